"""A radiologist's verdict on a record: appended, never edited; the AI result stays as it was."""

from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Depends

from api.deps import ActorDep, SessionDep, get_actor, require_roles
from api.errors import problem_responses
from api.models import ReviewCreate, ReviewPublic, ReviewsPublic, Role
from api.routing import RecordId
from api.services.records import get_visible_record_or_404
from api.services.reviews import add_review, reviews_of

router = APIRouter(
    prefix="/records/{record_id}/reviews",
    tags=["reviews"],
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)


@router.post(
    "",
    status_code=HTTPStatus.CREATED,
    response_model=ReviewPublic,
    dependencies=[Depends(require_roles(Role.RADIOLOGIST, Role.ADMIN))],
    summary="Confirm, correct or reject a record's classification",
    description=(
        "Appends a review; the latest one sets the record's `review_status` and "
        "`final_label`. The model's own label and probabilities never change; the record's "
        "DICOM SR gets a new, verified revision with the radiologist's conclusion, and its "
        "FHIR report a new status (`final`, `corrected`, `entered-in-error`). A record the "
        "input gate found out of distribution has no class to confirm (409): correct it to "
        "a class, or reject it."
    ),
    responses=problem_responses(400, 404, 409, 422),
)
def create_review(
    session: SessionDep, actor: ActorDep, record_id: RecordId, review_in: ReviewCreate
) -> Any:
    return add_review(session, actor, record_id, review_in)


@router.get(
    "",
    response_model=ReviewsPublic,
    summary="A record's review history, oldest first",
    responses=problem_responses(404, 422),
)
def read_reviews(session: SessionDep, actor: ActorDep, record_id: RecordId) -> Any:
    get_visible_record_or_404(session, actor, record_id)
    reviews = reviews_of(session, record_id)
    return ReviewsPublic(data=reviews, count=len(reviews))
