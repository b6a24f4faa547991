"""The tumour-first answer: from the calibrated probability that any tumour is present to
`tumour_suspected`, `indeterminate` or `no_tumour`, by two thresholds chosen on validation.

The rule, fixed before any threshold was seen: `no_tumour_below` is the largest value that
keeps SENSITIVITY_TARGET of the validation tumours of every source at or above it (a tumour
below it is a confident miss); `tumour_suspected_from` is the larger of it and the value
that all but NORMALS_ABOVE of the validation normals stay below.

Inside the indeterminate band the class label still leans one way (ml.inference): it is
no_tumor below `label_no_tumor_below`, the value in the band that maximises the mean over
validation sources (those with MIN_PER_SOURCE tumours and normals) of the label's balanced
accuracy, (sensitivity + specificity) / 2. Fixed before 0.8.0's training (research/RECORD.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np

# Tumours of each validation source kept out of `no_tumour`; above the 0.95 so that
# a source the model never saw has room to score lower.
SENSITIVITY_TARGET = 0.98
NORMALS_ABOVE = 0.05
# Fewer validation tumours (or normals) than this in a source say little: not used alone.
MIN_PER_SOURCE = 20


class Finding(StrEnum):
    TUMOUR_SUSPECTED = "tumour_suspected"
    INDETERMINATE = "indeterminate"
    NO_TUMOUR = "no_tumour"


@dataclass(frozen=True)
class FindingThresholds:
    no_tumour_below: float
    tumour_suspected_from: float
    # Older cards have none: the label is no_tumor exactly when the finding is no_tumour.
    label_no_tumor_below: float | None = None

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

    def labels_no_tumor(self, tumour_probability: float) -> bool:
        """Whether the class label is no_tumor: below the label threshold, inside the band."""
        limit = self.label_no_tumor_below
        return tumour_probability < (self.no_tumour_below if limit is None else limit)


def choose_thresholds(
    tumour_probability: np.ndarray, is_tumour: np.ndarray, sources: np.ndarray
) -> FindingThresholds:
    """The rule in the module's docstring, on validation images (is_tumour False: normal)."""
    lows = [
        float(np.quantile(tumour_probability[is_tumour & (sources == s)], 1 - SENSITIVITY_TARGET))
        for s in np.unique(sources[is_tumour])
        if (is_tumour & (sources == s)).sum() >= MIN_PER_SOURCE
    ]
    low = min(lows) if lows else float(np.quantile(tumour_probability[is_tumour], 0.02))
    normals = tumour_probability[~is_tumour]
    high = max(low, float(np.quantile(normals, 1 - NORMALS_ABOVE)) if len(normals) else low)
    label = label_threshold(tumour_probability, is_tumour, sources, low, high)
    return FindingThresholds(
        no_tumour_below=low, tumour_suspected_from=high, label_no_tumor_below=label
    )


def label_threshold(
    tumour_probability: np.ndarray, is_tumour: np.ndarray, sources: np.ndarray, low, high
) -> float:
    """The label's threshold by the rule in the module's docstring: candidates are `low`,
    `high` and every validation probability between; the first best one wins."""
    judged = [
        s
        for s in np.unique(sources)
        if min((is_tumour & (sources == s)).sum(), (~is_tumour & (sources == s)).sum())
        >= MIN_PER_SOURCE
    ]
    inside = tumour_probability[(tumour_probability > low) & (tumour_probability < high)]
    candidates = np.unique(np.concatenate([[low], inside, [high]]))
    if not judged:
        return float(low)

    def mean_balanced_accuracy(threshold: float) -> float:
        scores = []
        for s in judged:
            here = sources == s
            sensitivity = np.mean(tumour_probability[here & is_tumour] >= threshold)
            specificity = np.mean(tumour_probability[here & ~is_tumour] < threshold)
            scores.append((sensitivity + specificity) / 2)
        return float(np.mean(scores))

    return float(candidates[int(np.argmax([mean_balanced_accuracy(t) for t in candidates]))])
