"""Hospital standards out of a record: FHIR R4 Bundles, DICOM SR and Secondary Capture, and
the DICOMweb client that pulls studies from a PACS and pushes results back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.interop.common import (
    ModelDevice,
    complete_for_derivation,
    derived_uid,
    model_device,
    to_part10,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    from pydicom import Dataset

    from api.models import Record, Review

__all__ = [
    "ModelDevice",
    "derived_uid",
    "heatmap_secondary_capture",
    "model_device",
    "structured_report",
    "to_part10",
]


# highdicom, and pydicom's SR code dictionary that it loads, take about 0.6 s to import: a
# twentieth of the API's start-up for two exports. They are imported on first use instead.
def structured_report(
    record: Record,
    source: Dataset,
    model: ModelDevice,
    reviews: Sequence[Review] = (),
    *,
    in_original_study: bool,
) -> Dataset:
    from api.interop.sr import structured_report as build

    source = complete_for_derivation(source)
    return build(record, source, model, reviews, in_original_study=in_original_study)


def heatmap_secondary_capture(
    source: Dataset, pixels: np.ndarray, heatmap: np.ndarray, model: ModelDevice
) -> Dataset:
    from api.interop.heatmap import heatmap_secondary_capture as build

    return build(complete_for_derivation(source), pixels, heatmap, model)
