"""Dashboard figures over the records the caller may see: findings, classes, reviews, what
the recogniser saw, records per day."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import ActorDep, ClassifierDep, SessionDep, get_actor
from api.errors import problem_responses
from api.models import StatsPublic
from api.services.stats import StatsQuery, stats_for

router = APIRouter(
    prefix="/stats",
    tags=["stats"],
    dependencies=[Depends(get_actor)],
    responses=problem_responses(401, 403),
)


@router.get(
    "",
    response_model=StatsPublic,
    summary="Counts per finding, class, modality and body part; review agreement; records per day",
    description=(
        "Over the records the caller may see (an integration key: only its own), optionally "
        "within `created_from` (inclusive) and `created_to` (exclusive). Every finding, every "
        "class of the serving model, every modality and every body part is listed, with "
        "zeros where it has no record. Records the input gate found out of distribution are "
        "counted under their modality and body part, never under a finding or a class."
    ),
    responses=problem_responses(422),
)
def read_stats(
    session: SessionDep,
    actor: ActorDep,
    classifier: ClassifierDep,
    query: Annotated[StatsQuery, Query()],
) -> Any:
    return stats_for(session, actor, classifier.classes, query)
