"""Dashboard figures over the records the caller may see: findings, classes, reviews, what
the recogniser saw, records per day."""

from collections import Counter
from collections.abc import Iterable
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select

from api.models import (
    ClassAgreement,
    DayCount,
    Record,
    ReviewStatus,
    StatsPublic,
    has_tumour_answer,
)
from api.security import Actor
from api.services.records import visible_to, with_tumour_answer
from api.values import UtcInstant
from ml.finding import Finding
from ml.labels import BODY_PARTS, MODALITIES


class StatsQuery(BaseModel):
    """The time window the figures cover; without one, every visible record counts."""

    model_config = ConfigDict(extra="forbid")

    created_from: UtcInstant | None = Field(
        default=None, description="Created at or after this time (with a time zone)."
    )
    created_to: UtcInstant | None = Field(
        default=None, description="Created before this time (with a time zone)."
    )

    @model_validator(mode="after")
    def window_in_order(self) -> Self:
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("`created_from` must be earlier than `created_to`.")
        return self


def stats_for(
    session: Session, actor: Actor, model_classes: tuple[str, ...], query: StatsQuery
) -> StatsPublic:
    """The figures over what `actor` may see within the query's window; `model_classes` (the
    serving model's) are listed even where no record has them."""
    conditions = [visible_to(actor), *window_conditions(query)]
    rows = label_and_status_counts(session, conditions)
    classes = classes_seen(model_classes, rows)
    with_answer = Counter({key: n for key, n in rows.items() if has_tumour_answer(key[3])})
    return StatsPublic(
        total=sum(rows.values()),
        by_finding=count_per(
            session, col(Record.finding), [*conditions, with_tumour_answer()], list(Finding)
        ),
        by_label=count_by(with_answer, classes, lambda label, _status, _final: label),
        by_final_label=count_by(rows, classes, lambda _label, _status, final: final),
        by_review_status={
            status.value: sum(n for (_, s, _, _), n in rows.items() if s == status)
            for status in ReviewStatus
        },
        by_modality=count_per(session, col(Record.modality), conditions, MODALITIES),
        by_body_part=count_per(session, col(Record.body_part), conditions, BODY_PARTS),
        agreement=[agreement_for(label, with_answer) for label in classes],
        per_day=records_per_day(session, conditions),
    )


def window_conditions(query: StatsQuery) -> list[ColumnElement[bool]]:
    conditions = []
    if query.created_from is not None:
        conditions.append(col(Record.created_at) >= query.created_from)
    if query.created_to is not None:
        conditions.append(col(Record.created_at) < query.created_to)
    return conditions


# (predicted label, review status, reviewed label, suitability) -> number of records.
LabelStatusCounts = Counter[tuple[str, str, str | None, str | None]]


def label_and_status_counts(
    session: Session, conditions: list[ColumnElement[bool]]
) -> LabelStatusCounts:
    key = (
        col(Record.label),
        col(Record.review_status),
        col(Record.reviewed_label),
        col(Record.suitability),
    )
    statement = select(*key, func.count()).where(*conditions).group_by(*key)
    return Counter({tuple(row[:-1]): row[-1] for row in session.exec(statement)})


def classes_seen(model_classes: tuple[str, ...], rows: LabelStatusCounts) -> list[str]:
    """The serving model's classes first, then any other label a record answers with."""
    predicted = {label for label, _, _, suitability in rows if has_tumour_answer(suitability)}
    extra = predicted | {r for _, _, r, _ in rows if r is not None}
    return [*model_classes, *sorted(extra - set(model_classes))]


def final_label(
    label: str, status: str, reviewed: str | None, suitability: str | None
) -> str | None:
    # The same rule as Record.final_label: a rejected record has none, and neither has an
    # unreviewed one the input gate refused.
    if status == ReviewStatus.UNREVIEWED:
        return label if has_tumour_answer(suitability) else None
    if status == ReviewStatus.REJECTED:
        return None
    return reviewed


def count_by(rows: LabelStatusCounts, classes: list[str], pick) -> dict[str, int]:
    counts = dict.fromkeys(classes, 0)
    for (label, status, reviewed, suitability), n in rows.items():
        chosen = pick(label, status, final_label(label, status, reviewed, suitability))
        if chosen is not None:
            counts[chosen] = counts.get(chosen, 0) + n
    return counts


def count_per(
    session: Session,
    column: ColumnElement[str | None],
    conditions: list[ColumnElement[bool]],
    every: Iterable[str],
) -> dict[str, int]:
    """Records per value of `column`: each of `every` (zero if none), then any other value;
    records without a value are not counted."""
    statement = (
        select(column, func.count()).where(*conditions, column.is_not(None)).group_by(column)
    )
    counts = dict.fromkeys((str(value) for value in every), 0)
    for value, n in session.exec(statement):
        counts[value] = counts.get(value, 0) + n
    return counts


def agreement_for(label: str, rows: LabelStatusCounts) -> ClassAgreement:
    """How often reviewers agreed with the model when it predicted `label`.

    A rejection says the image was unusable, not that the class was wrong, so it is counted
    but left out of the rate.
    """
    by_status = Counter()
    for (predicted, status, _, _), n in rows.items():
        if predicted == label:
            by_status[status] += n
    confirmed = by_status[ReviewStatus.CONFIRMED]
    corrected = by_status[ReviewStatus.CORRECTED]
    judged = confirmed + corrected
    return ClassAgreement(
        label=label,
        confirmed=confirmed,
        corrected=corrected,
        rejected=by_status[ReviewStatus.REJECTED],
        agreement_rate=confirmed / judged if judged else None,
    )


def records_per_day(session: Session, conditions: list[ColumnElement[bool]]) -> list[DayCount]:
    day = utc_day(session)
    statement = select(day, func.count()).where(*conditions).group_by(day).order_by(day)
    return [DayCount(date=str(date), count=n) for date, n in session.exec(statement)]


def utc_day(session: Session) -> ColumnElement[str]:
    """The UTC calendar day of created_at as YYYY-MM-DD, in the database's own dialect."""
    created_at = col(Record.created_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", created_at), "YYYY-MM-DD")
    # SQLite keeps the UTC timestamp as text (UTCDateTime converts before storing).
    return func.strftime("%Y-%m-%d", created_at)
