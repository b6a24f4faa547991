"""A PACS study pull as a job (POST /pacs/studies/{uid}/jobs, api/jobs.py).

The same pull as the synchronous route (api/interop/pull.py): all or nothing per study, and
idempotent by instance, so a job run again after its worker died (kill -9 before the commit)
makes every record once, and one run again after the commit finds them `existing`. Two jobs
of one study never run at once (`JobResources.exclusive`): the pull's idempotency is a
lookup, not a constraint, and two at once could both classify an instance.
"""

from http import HTTPStatus

from fastapi import HTTPException
from sqlmodel import Session

from api.deidentify import salted_uid_hash
from api.interop import model_device
from api.interop.pacs import PacsError, pacs_client_from_settings
from api.interop.pull import Outcome, PullRequest, StudyPull, pull_study
from api.jobs import PACS_STUDY_PULL, JobFailedError, JobResources
from api.models import ApiKey, Role
from api.security import Actor
from api.services.ingest import IngestContext, blob_discarder
from api.settings import Settings
from api.storage import BlobStore
from ml.inference import Classifier

NO_PACS = (
    "No PACS is configured on this server: an operator sets MEDIMG_PACS_URL (and "
    "MEDIMG_PACS_USERNAME/PASSWORD) to enable it."
)


def study_pull_request(
    settings: Settings,
    session: Session,
    classifier: Classifier,
    blob_store: BlobStore,
    actor: Actor,
    *,
    push: bool,
) -> PullRequest:
    """Everything a pull of `actor`'s needs; the PACS must be configured."""
    return PullRequest(
        client=pacs_client_from_settings(settings),
        session=session,
        actor=actor,
        ingest_context=IngestContext(
            classifier=classifier,
            blob_store=blob_store,
            max_image_pixels=settings.max_image_pixels,
            uid_hash_salt=settings.uid_hash_salt.get_secret_value(),
            created_by_key_id=actor.key_id,
            source_system=settings.pacs_source_system,
            discard_blob=blob_discarder(session, blob_store),
        ),
        model_of=lambda version: model_device(classifier, version),
        push=push,
    )


def run_pacs_study_pull(resources: JobResources, arguments: dict, key_id: int | None) -> dict:
    """Arguments: `study_instance_uid`, `push`. Done for the key that asked, while that key
    is still valid; the result is a summary (the records themselves are at /records/{id})."""
    settings = resources.settings
    if settings.pacs_url is None:
        raise JobFailedError(NO_PACS, HTTPStatus.CONFLICT)
    study_uid = arguments["study_instance_uid"]
    # Named by its hash: the UID itself is not written into Redis's key names.
    study = salted_uid_hash(study_uid, settings.uid_hash_salt.get_secret_value())
    with resources.exclusive(f"{PACS_STUDY_PULL}:{study}"), Session(resources.engine) as session:
        actor = _actor_still_valid(session, key_id)
        request = study_pull_request(
            settings,
            session,
            resources.classifier,
            resources.blob_store,
            actor,
            push=bool(arguments.get("push", False)),
        )
        try:
            pull = pull_study(study_uid, request)
        except PacsError as error:
            raise JobFailedError(error.detail, error.status) from error
        except HTTPException as error:
            raise JobFailedError(str(error.detail), error.status_code) from error
        return pull_summary(pull, settings.pacs_source_system)


def _actor_still_valid(session: Session, key_id: int | None) -> Actor:
    api_key = session.get(ApiKey, key_id) if key_id is not None else None
    if api_key is None or api_key.revoked_at is not None:
        raise JobFailedError(
            "The API key that asked for this job was revoked before it ran; nothing was done.",
            HTTPStatus.UNAUTHORIZED,
        )
    return Actor(key_id=api_key.id, name=api_key.name, role=Role(api_key.role))


def pull_summary(pull: StudyPull, source_system: str) -> dict:
    def count(outcome: Outcome) -> int:
        return sum(1 for pulled in pull.instances if pulled.outcome == outcome)

    return {
        "study_uid_hash": pull.study_uid_hash,
        "source_system": source_system,
        "created": count(Outcome.CREATED),
        "existing": count(Outcome.EXISTING),
        "skipped": count(Outcome.SKIPPED),
        "record_ids": [pulled.record.id for pulled in pull.instances if pulled.record is not None],
        "pushed_reports": pull.pushed_reports,
        "pushed_heatmaps": pull.pushed_heatmaps,
        "notes": pull.notes,
    }
