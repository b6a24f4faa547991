"""Pull a study from the PACS, classify its MR images, optionally push the results back.

All or nothing per study: every instance is fetched before the first is classified, and the
records are committed in one transaction, after the push (when asked) has succeeded. A PACS
failure at any step, or an instance medimg refuses, leaves no record and no stored image.

Idempotent: an MR instance that already has a record (same salted SOP Instance UID hash,
same source system, visible to the caller) is reported as `existing` and not classified
again. Each image goes through the normal ingest path (`api.services.ingest`): decoding,
the PS3.15 de-identification, the blob store and the records. The original study's
identifiers are kept apart, as the record's filing context (api/interop/filing.py), so that
its results can be pushed into the PACS's own study now or later (after a review); the push
builds them from the stored image and that context, as GET /records/{id}/sr does.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from http import HTTPStatus

from fastapi import HTTPException
from pydicom import Dataset
from sqlmodel import Session, col, select

from api.deidentify import salted_uid_hash
from api.interop import (
    ModelDevice,
    structured_report,
    to_part10,
)
from api.interop.filed_heatmap import filed_heatmap
from api.interop.filing import (
    ResultSource,
    filing_context_for,
    keep_filing_context,
    result_source,
)
from api.interop.pacs import PacsClient, PacsInstance
from api.models import Record
from api.security import Actor
from api.services.ingest import (
    IngestContext,
    Ingested,
    Upload,
    discard_unreferenced_blobs,
    ingest,
    save_records,
)
from api.services.records import visible_to
from api.services.reviews import reviews_of

MR_MODALITY = "MR"
# MR Image Storage and Enhanced MR Image Storage, for PACSes whose search omits the modality.
MR_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1"})


class Outcome(StrEnum):
    CREATED = "created"
    EXISTING = "existing"
    SKIPPED = "skipped"


@dataclass
class PulledInstance:
    instance: PacsInstance
    sop_uid_hash: str
    outcome: Outcome
    reason: str | None = None
    record: Record | None = None
    # The original, as fetched: in memory for this request only (its filing context is what
    # is kept).
    dataset: Dataset | None = None


@dataclass
class StudyPull:
    study_uid_hash: str
    instances: list[PulledInstance]
    pushed_reports: int = 0
    pushed_heatmaps: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PullRequest:
    client: PacsClient
    session: Session
    actor: Actor
    ingest_context: IngestContext
    model_of: Callable[[str], ModelDevice]  # the model that made a record, by its version
    push: bool


def pull_study(study_uid: str, request: PullRequest) -> StudyPull:
    """Raises PacsError (PACS failures) or HTTPException (404, refused instances)."""
    salt = request.ingest_context.uid_hash_salt
    found = request.client.instances_of_study(study_uid)
    if not found:
        raise HTTPException(
            HTTPStatus.NOT_FOUND,
            f"The PACS has no study {study_uid}. Check the Study Instance UID.",
        )
    pull = StudyPull(
        study_uid_hash=salted_uid_hash(study_uid, salt),
        instances=[_plan(instance, request) for instance in found],
    )
    for pulled in _to_fetch(pull, request):
        pulled.dataset = request.client.retrieve(pulled.instance)
    # Every record of the PACS keeps where its results belong.
    context = replace(request.ingest_context, keep_filing_context=True)
    ingested = _ingest_new(pull, context, request.session)

    def push_then_commit(writing: Session) -> None:
        _keep_missing_contexts(pull, writing)
        if request.push:
            _push(pull, request)

    save_records(
        request.session,
        request.ingest_context.blob_store,
        [item for item, _ in ingested],
        before_commit=push_then_commit,
    )
    return pull


def _plan(instance: PacsInstance, request: PullRequest) -> PulledInstance:
    sop_uid_hash = salted_uid_hash(instance.sop_uid, request.ingest_context.uid_hash_salt)
    if not _is_mr_image(instance):
        return PulledInstance(
            instance,
            sop_uid_hash,
            Outcome.SKIPPED,
            reason=(
                f"Not an MR image (modality {instance.modality or 'unknown'}); the model "
                "classifies brain-MRI slices only."
            ),
        )
    existing = _existing_record(request, sop_uid_hash)
    if existing is not None:
        return PulledInstance(instance, sop_uid_hash, Outcome.EXISTING, record=existing)
    return PulledInstance(instance, sop_uid_hash, Outcome.CREATED)


def _is_mr_image(instance: PacsInstance) -> bool:
    if instance.modality is not None:
        return instance.modality == MR_MODALITY
    return instance.sop_class_uid in MR_SOP_CLASSES


def _existing_record(request: PullRequest, sop_uid_hash: str) -> Record | None:
    statement = select(Record).where(
        col(Record.sop_uid_hash) == sop_uid_hash,
        col(Record.source_system) == request.ingest_context.source_system,
        visible_to(request.actor),
    )
    return request.session.exec(statement.order_by(col(Record.id)).limit(1)).first()


def _to_fetch(pull: StudyPull, request: PullRequest) -> list[PulledInstance]:
    return [pulled for pulled in pull.instances if _needs_fetching(pulled, request)]


def _needs_fetching(pulled: PulledInstance, request: PullRequest) -> bool:
    if pulled.outcome == Outcome.CREATED:
        return True
    # An existing record is fetched again only to push its results, and only when it has no
    # filing context to say where they go (made before contexts were kept).
    return (
        request.push
        and pulled.outcome == Outcome.EXISTING
        and filing_context_for(request.session, pulled.record.id) is None
    )


def _keep_missing_contexts(pull: StudyPull, session: Session) -> None:
    for pulled in pull.instances:
        if pulled.outcome == Outcome.EXISTING and pulled.dataset is not None:
            keep_filing_context(session, pulled.record.id, pulled.dataset)
    session.flush()


def _ingest_new(
    pull: StudyPull, context: IngestContext, session: Session
) -> list[tuple[Ingested, PulledInstance]]:
    new = [pulled for pulled in pull.instances if pulled.outcome == Outcome.CREATED]
    done: list[tuple[Ingested, PulledInstance]] = []
    try:
        for position, pulled in enumerate(new, start=1):
            item = _ingest_one(pulled, context, position, len(new))
            pulled.record = item.record
            done.append((item, pulled))
    except BaseException:
        # Nothing of the study is kept: the images stored so far have no record.
        discard_unreferenced_blobs(session, context.blob_store, [item.blob for item, _ in done])
        raise
    return done


def _ingest_one(
    pulled: PulledInstance, context: IngestContext, position: int, total: int
) -> Ingested:
    try:
        return ingest(Upload(filename=None, data=to_part10(pulled.dataset)), context)
    except HTTPException as error:
        raise HTTPException(
            error.status_code,
            f"MR instance {position} of {total} (sop_uid_hash {pulled.sop_uid_hash}) was "
            f"refused: {error.detail} Nothing of the study was stored.",
            headers=error.headers,
        ) from error


def _push(pull: StudyPull, request: PullRequest) -> None:
    datasets: list[Dataset] = []
    for pulled in pull.instances:
        if pulled.record is None:
            continue
        source = result_source(request.session, request.ingest_context.blob_store, pulled.record)
        if not source.in_original_study:
            # Results of the de-identified copy would be an orphan study in the PACS.
            _note_once(pull.notes, "No results pushed for records without a filing context.")
            continue
        model = request.model_of(pulled.record.model_version)
        # The latest revision: after a review, the radiologist's verified conclusion.
        reviews = reviews_of(request.session, pulled.record.id)
        report = structured_report(
            pulled.record,
            source.dataset,
            model,
            reviews,
            in_original_study=source.in_original_study,
        )
        datasets.append(report)
        pull.pushed_reports += 1
        heatmap = _heatmap_or_none(pulled, source, request, model, pull.notes)
        if heatmap is not None:
            datasets.append(heatmap)
            pull.pushed_heatmaps += 1
    if datasets:
        request.client.store(datasets)


def _heatmap_or_none(
    pulled: PulledInstance,
    source: ResultSource,
    request: PullRequest,
    model: ModelDevice,
    notes: list[str],
) -> Dataset | None:
    context = request.ingest_context
    heatmap = filed_heatmap(
        pulled.record, source, context.classifier, model, context.max_image_pixels
    )
    if heatmap.why_not is not None:
        _note_once(notes, heatmap.why_not)
    return heatmap.capture


def _note_once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)
