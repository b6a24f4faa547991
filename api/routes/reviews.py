"""A radiologist's verdict on a record: appended, never edited; the AI result stays as it was."""

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends

from api.deps import (
    ActorDep,
    BlobStoreDep,
    ClassifierDep,
    MetricsDep,
    SessionDep,
    SettingsDep,
    get_actor,
    require_roles,
)
from api.errors import problem_responses
from api.interop.review_push import ReviewPusher
from api.models import ReviewCreate, ReviewPublic, ReviewsPublic, Role
from api.routing import RecordId
from api.services.records import get_visible_record_or_404
from api.services.reviews import add_review, reviews_of


def get_review_pusher(
    settings: SettingsDep,
    session: SessionDep,
    blob_store: BlobStoreDep,
    classifier: ClassifierDep,
    metrics: MetricsDep,
) -> ReviewPusher:
    # The push runs after the request's session is closed: it opens its own on the engine.
    return ReviewPusher(settings, session.get_bind(), blob_store, classifier, metrics)


ReviewPusherDep = Annotated[ReviewPusher, Depends(get_review_pusher)]

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
        "FHIR report a new status (`final`, `corrected`, `entered-in-error`). For a record "
        "from the PACS or the DICOM listener, the new SR revision is then pushed back there "
        "(STOW-RS, or C-STORE to the result destination), after the answer: a PACS that is "
        "down never fails the review (see /metrics). A record the "
        "input gate found out of distribution has no class to confirm (409): correct it to "
        "a class, or reject it."
    ),
    responses=problem_responses(400, 404, 409, 422),
)
def create_review(
    session: SessionDep,
    actor: ActorDep,
    record_id: RecordId,
    review_in: ReviewCreate,
    pusher: ReviewPusherDep,
    background_tasks: BackgroundTasks,
) -> Any:
    answer = add_review(session, actor, record_id, review_in)
    # After the commit and off the request path: the push may wait on a slow PACS.
    background_tasks.add_task(pusher.push, record_id)
    return answer


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
