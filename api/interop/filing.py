"""Filing context: what a result needs to be filed into the original study, and the one
place that reads it back.

medimg stores DICOM de-identified (api/deidentify.py): the stored file has new Study, Series
and SOP Instance UIDs and no patient, accession or dates, so results made from it alone
would land in a PACS as a study of their own. For a record that came from the hospital's
own systems (a PACS pull, the DICOM listener, or an upload with `keep_filing_context`), the
original study's identifiers are kept in a table of their own (`FilingContext`), and only
the result-writing path reads them: the SR, the heatmap, FHIR, the PACS push and the
listener's send. They are laid back over the stored image just before a result is made from
it, so the result names the original image and its study, patient and order.
"""

import io
from dataclasses import dataclass

import pydicom
from pydicom import Dataset
from sqlmodel import Session

from api.deidentify import FILING_ATTRIBUTES, filing_identifiers
from api.models import FilingContext, Record
from api.services.records import read_image_or_404
from api.storage import BlobStore

# Without all three a result cannot name the image it is about.
IDENTIFYING_COLUMNS = ("study_instance_uid", "series_instance_uid", "sop_instance_uid")


@dataclass(frozen=True)
class ResultSource:
    """The image a result is made from: the stored one, with its original identifiers laid
    back when the record has a filing context."""

    dataset: Dataset
    stored: bytes  # the stored (de-identified) file: its pixels are the classified ones
    in_original_study: bool


def filing_context_of(original: Dataset, record_id: int | None = None) -> FilingContext:
    """The filing context of an image as it arrived (before de-identification)."""
    return FilingContext(record_id=record_id, **filing_identifiers(original))


def filing_context_for(session: Session, record_id: int) -> FilingContext | None:
    return session.get(FilingContext, record_id)


def keep_filing_context(session: Session, record_id: int, original: Dataset) -> None:
    """Give a record that has none (one made before contexts were kept, or an upload without
    one) the context of `original`, the same instance arriving from the hospital's systems:
    its results can then be filed where that instance lives. The caller commits."""
    context = filing_context_of(original, record_id)
    if filing_context_for(session, record_id) is None and all(
        getattr(context, column) for column in IDENTIFYING_COLUMNS
    ):
        session.add(context)


def result_source(session: Session, blob_store: BlobStore, record: Record) -> ResultSource:
    """The stored image of `record` as results are made from it; raises 404 if it is gone."""
    stored = read_image_or_404(blob_store, record)
    # Stored DICOM was read and de-identified on ingest, so it parses.
    dataset = pydicom.dcmread(io.BytesIO(stored))
    context = filing_context_for(session, record.id)
    if context is not None:
        _lay_back(dataset, context)
    return ResultSource(dataset=dataset, stored=stored, in_original_study=context is not None)


def _lay_back(dataset: Dataset, context: FilingContext) -> None:
    for column, keyword in FILING_ATTRIBUTES.items():
        value = getattr(context, column)
        if value is not None or keyword in dataset:
            setattr(dataset, keyword, value)
    # The file meta must name the same instance as the data set.
    dataset.file_meta.MediaStorageSOPInstanceUID = context.sop_instance_uid
