"""What the recogniser says an image is, and whether that lets it reach the tumour model."""

from __future__ import annotations

from dataclasses import dataclass, field

from ml.labels import BRAIN_MRI, KIND_DESCRIPTIONS, body_part_of, modality_of

# The card's default when it names no limit of its own (ml.train chooses one on validation).
DEFAULT_BRAIN_MRI_LIMIT = 0.5


@dataclass(frozen=True)
class KindEstimate:
    """The recogniser's most probable kind (ml.labels.KINDS) and the brain-MRI probability,
    which alone decides: below `brain_mri_limit` the image is not read for tumours."""

    kind: str
    probability: float  # of that kind
    brain_mri_probability: float
    probabilities: dict[str, float] = field(default_factory=dict)
    brain_mri_limit: float = DEFAULT_BRAIN_MRI_LIMIT

    @property
    def modality(self) -> str:
        return modality_of(self.kind)

    @property
    def body_part(self) -> str:
        return body_part_of(self.kind)

    @property
    def is_brain_mri(self) -> bool:
        return self.brain_mri_probability >= self.brain_mri_limit

    @property
    def description(self) -> str:
        """'chest X-ray, 0.98': what the image most likely is, for a person."""
        return f"{KIND_DESCRIPTIONS[self.kind]}, {self.probability:.2f}"

    @property
    def most_likely_other(self) -> tuple[str, float]:
        """The most probable kind that is not brain MRI, and its probability."""
        others = {k: p for k, p in self.probabilities.items() if k != BRAIN_MRI}
        kind = max(others, key=others.get) if others else self.kind
        return kind, others.get(kind, self.probability)
