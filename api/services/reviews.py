"""A radiologist's verdict on a record: appended, never edited; the AI result stays as it was."""

from http import HTTPStatus

from fastapi import HTTPException
from sqlalchemy import update
from sqlmodel import Session, col, select

from api.models import (
    STATUS_AFTER,
    Record,
    Review,
    ReviewAction,
    ReviewBase,
    ReviewCreate,
    ReviewPublic,
    has_tumour_answer,
)
from api.security import Actor
from api.services.records import lock_visible_record_or_404, record_not_found


def add_review(
    session: Session, actor: Actor, record_id: int, review_in: ReviewCreate
) -> ReviewPublic:
    """Store the review and mirror its outcome on the record, in one transaction."""
    record = lock_visible_record_or_404(session, actor, record_id)
    check_it_reviews_this_result(record, review_in)
    check_label_is_a_class(record, review_in)
    check_there_is_a_class_to_confirm(record, review_in)
    review = Review.model_validate(
        review_in.model_dump(include=set(ReviewBase.model_fields)),
        update={
            "record_id": record_id,
            "reviewer_key_id": actor.key_id,
            "reviewer_name": actor.name,
        },
    )
    mirror_on_record(session, record, review)
    session.add(review)
    session.flush()  # assigns the id and defaults inside the transaction
    # Read before the commit: once it releases the row lock a concurrent delete may remove
    # the review, and a refresh afterwards would fail.
    answer = ReviewPublic.model_validate(review)
    session.commit()
    return answer


def reviews_of(session: Session, record_id: int) -> list[Review]:
    """The record's reviews, oldest first."""
    in_order = (col(Review.created_at).asc(), col(Review.id).asc())
    statement = select(Review).where(col(Review.record_id) == record_id).order_by(*in_order)
    return list(session.exec(statement))


def check_it_reviews_this_result(record: Record, review_in: ReviewCreate) -> None:
    # A review names what was on the reviewer's screen; another record, or a result of
    # another model, means the review was meant for something else: store nothing.
    if review_in.record_id is not None and review_in.record_id != record.id:
        raise HTTPException(
            HTTPStatus.CONFLICT,
            f"This review names record {review_in.record_id}, but was sent for record "
            f"{record.id}: nothing was saved. Open the record you meant and review it there.",
        )
    if review_in.model_version is not None and review_in.model_version != record.model_version:
        raise HTTPException(
            HTTPStatus.CONFLICT,
            f"This review is of model {review_in.model_version}'s result, but record "
            f"{record.id} holds model {record.model_version}'s: nothing was saved. Reload the "
            "record and review what it holds.",
        )


def check_label_is_a_class(record: Record, review_in: ReviewCreate) -> None:
    # The classes of the model that made the record, which may not be the one serving now.
    classes = sorted(record.probabilities)
    if review_in.label is not None and review_in.label not in classes:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"`{review_in.label}` is not a class of model {record.model_version}; "
            f"use one of: {', '.join(classes)}.",
        )


def check_there_is_a_class_to_confirm(record: Record, review_in: ReviewCreate) -> None:
    # Confirming would make the model's class of an image it was not built for a diagnosis.
    if review_in.action == ReviewAction.CONFIRM and not has_tumour_answer(record.suitability):
        reason = record.suitability_reason or "The input gate found it out of distribution."
        raise HTTPException(
            HTTPStatus.CONFLICT,
            f"Record {record.id} has no class to confirm: it was not read for tumours. "
            f"{reason} Correct it to a class if it is a brain MRI after all, or reject it.",
        )


def mirror_on_record(session: Session, record: Record, review: Review) -> None:
    """Copy the review's outcome onto the record, in the review's own transaction."""
    reviewed_label = {
        ReviewAction.CONFIRM: record.label,
        ReviewAction.CORRECT: review.label,
        ReviewAction.REJECT: None,
        ReviewAction.WITHDRAW: None,
    }[review.action]
    # A statement whose row count tells whether a concurrent delete got there first.
    updated = session.execute(
        update(Record)
        .where(col(Record.id) == review.record_id)
        .values(review_status=STATUS_AFTER[review.action], reviewed_label=reviewed_label)
    ).rowcount
    if updated == 0:
        session.rollback()  # expires `record`: only the review's own fields are read after
        raise record_not_found(review.record_id)
