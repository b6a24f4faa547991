"""The tumour-first answer: from the calibrated probability that any tumour is present to
`tumour_suspected`, `indeterminate` or `no_tumour`, by two thresholds chosen on validation.

The rule, fixed before any threshold was seen: `no_tumour_below` is the largest value that
keeps SENSITIVITY_TARGET of the validation tumours of every source at or above it (a tumour
below it is a confident miss); `tumour_suspected_from` is the larger of it and the value
that all but NORMALS_ABOVE of the validation normals stay below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np

# Tumours of each validation source kept out of `no_tumour`; above the 0.95 so that
# a source the model never saw has room to score lower.
SENSITIVITY_TARGET = 0.98
NORMALS_ABOVE = 0.05
# Fewer validation tumours than this in a source say little about its tail: not used alone.
MIN_TUMOURS_PER_SOURCE = 20


class Finding(StrEnum):
    TUMOUR_SUSPECTED = "tumour_suspected"
    INDETERMINATE = "indeterminate"
    NO_TUMOUR = "no_tumour"


@dataclass(frozen=True)
class FindingThresholds:
    no_tumour_below: float
    tumour_suspected_from: float

    @classmethod
    def from_card(cls, card: dict) -> FindingThresholds | None:
        values = card.get("finding_thresholds")
        return cls(**values) if values else None

    def card(self) -> dict:
        return asdict(self)

    def finding(self, tumour_probability: float) -> Finding:
        if tumour_probability < self.no_tumour_below:
            return Finding.NO_TUMOUR
        if tumour_probability >= self.tumour_suspected_from:
            return Finding.TUMOUR_SUSPECTED
        return Finding.INDETERMINATE


def choose_thresholds(
    tumour_probability: np.ndarray, is_tumour: np.ndarray, sources: np.ndarray
) -> FindingThresholds:
    """The rule in the module's docstring, on validation images (is_tumour False: normal)."""
    lows = [
        float(np.quantile(tumour_probability[is_tumour & (sources == s)], 1 - SENSITIVITY_TARGET))
        for s in np.unique(sources[is_tumour])
        if (is_tumour & (sources == s)).sum() >= MIN_TUMOURS_PER_SOURCE
    ]
    low = min(lows) if lows else float(np.quantile(tumour_probability[is_tumour], 0.02))
    normals = tumour_probability[~is_tumour]
    high = float(np.quantile(normals, 1 - NORMALS_ABOVE)) if len(normals) else low
    return FindingThresholds(no_tumour_below=low, tumour_suspected_from=max(low, high))
