"""The heatmap Secondary Capture sent with a result into the original study, or why none is.

One rule for every path that files results (the PACS push, the DICOM listener): no overlay
for an image without a tumour answer (in a PACS it would look like a finding), none for a
record of another model than the serving one (the map would explain other weights), and
none for an image whose orientation the capture cannot state.
"""

from dataclasses import dataclass

from pydicom import Dataset

from api.interop import ModelDevice, heatmap_secondary_capture
from api.interop.filing import ResultSource
from api.models import Record, has_tumour_answer
from api.services.ingest import decode_upload
from ml.inference import Classifier

NOT_READ_FOR_TUMOURS = "No heatmap pushed for images not read for tumours."
OTHER_MODEL = "No heatmap pushed for records of a model other than the serving one."


@dataclass(frozen=True)
class FiledHeatmap:
    capture: Dataset | None
    why_not: str | None = None  # for a person, when there is no capture


def filed_heatmap(
    record: Record,
    source: ResultSource,
    classifier: Classifier,
    model: ModelDevice,
    max_image_pixels: int,
) -> FiledHeatmap:
    if not has_tumour_answer(record.suitability):
        return FiledHeatmap(None, NOT_READ_FOR_TUMOURS)
    if record.model_version not in classifier.same_weights:
        return FiledHeatmap(None, OTHER_MODEL)
    image = decode_upload(source.stored, max_image_pixels)
    explanation = classifier.explain(image.pixels)
    return FiledHeatmap(
        heatmap_secondary_capture(source.dataset, image.pixels, explanation.heatmap, model)
    )
