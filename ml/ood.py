"""The input gate: is this image a brain-MRI slice of the kind the model was built for?

Four cues, the worst one wins:

- the model's own feature space: class-conditional Gaussians with one shared covariance
  fitted on the training slices' features; the score is the Mahalanobis distance to the
  nearest class mean (Lee et al., 2018), summed over two blocks of features, each in units
  of its median validation distance: the third stage averaged over the image, and the
  embedding (the fourth). The embedding alone told tight crops of MRI slices from unframed
  non-MRI images worse (AUROC 0.984 against 0.996 on development data; research/RECORD.md,
  "Input gate").
- the background: a brain-MRI slice shows a head on a dark background, so most of the
  image's border is dark. Photos, radiographs and noise have no such frame. The frame alone
  decides nothing (3 % of validation slices are cropped tight); it sets which distance
  limit applies.
- the DICOM header, when there is one: Modality must be MR, BodyPartExamined (if given)
  a head or brain.
- colour: MRI is greyscale, so a colour photo, an ultrasound Doppler or a screenshot is not.

Beside them the recogniser (kind_cue) refuses what it reads as another kind of image, and
an indeterminate finding (ml.finding) makes an answer low_confidence at least.

Limits: low_confidence above the validation split's 97.5th percentile. out_of_distribution:
- for an image without a dark frame, above the 99th percentile of tight crops of the
  validation slices (their skull cut away, as some sources send them) but below every
  development non-MRI image without a frame (photos, radiographs, noise), and never below
  the low_confidence limit;
- for a framed image, above the largest limit that still flags 95 % of a development set
  of non-MRI images (outlier exposure; see ml.trust_eval for the development / evaluation
  split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from ml.decode import DecodedImage, decode_image
from ml.finding import Finding
from ml.kinds import KindEstimate
from ml.labels import KIND_DESCRIPTIONS

OOD_FILE = "ood.npz"
# Share of in-distribution validation images allowed above the low-confidence limit.
LOW_CONFIDENCE_QUANTILE = 0.975
# The framed limit never drops below this validation quantile, whatever the outliers say.
OUT_OF_DISTRIBUTION_FLOOR_QUANTILE = 0.995
# Share of development non-MRI images the framed limit must still flag: the target.
OUTLIERS_FLAGGED = 0.95
# Share of tight crops of validation slices an unframed image's limit lets through.
UNFRAMED_QUANTILE = 0.99
# A border pixel is background when darker than this share of the image's 99th percentile;
# an image is framed when at least half its border is background. Validation slices are
# bimodal here: 0.2 to 0.5 flag the same 2.9 %.
BACKGROUND_LEVEL = 0.1
FRAMED_BORDER_SHARE = 0.5
BORDER_WIDTH = 0.05  # of the shorter side
# A robust maximum: a few saturated pixels (text, markers) do not set the scale.
BRIGHT_PERCENTILE = 99
# Mean chroma (0-255 scale) above which an image counts as colour; JPEG re-encoding
# of a grey slice leaves about 1.
COLOUR_CHROMA = 8.0
BRAIN_BODY_PARTS = {"BRAIN", "HEAD", "SKULL", "HEADNECK", "HEAD NECK", "HEAD_NECK", "CEREBRUM"}


class Suitability(StrEnum):
    OK = "ok"
    LOW_CONFIDENCE = "low_confidence"
    OUT_OF_DISTRIBUTION = "out_of_distribution"


SEVERITY = [Suitability.OK, Suitability.LOW_CONFIDENCE, Suitability.OUT_OF_DISTRIBUTION]


@dataclass(frozen=True)
class GateResult:
    suitability: Suitability
    score: float | None  # FeatureDensity.scores: distance to the training slices; None without
    reason: str
    cue: str = "features"  # what decided: features, kind, header or colour
    # Distance over the limit that applies to this image: above 1 is out_of_distribution.
    relative_score: float | None = None


def dark_border_share(pixels: np.ndarray) -> float:
    """Share of the image's outer frame that is dark background."""
    pixels = np.asarray(pixels)
    bright = brightest_percentile(pixels) or 1.0
    width = max(2, int(BORDER_WIDTH * min(pixels.shape[:2])))
    frame = np.concatenate(
        [
            pixels[:width].ravel(),
            pixels[-width:].ravel(),
            pixels[:, :width].ravel(),
            pixels[:, -width:].ravel(),
        ]
    )
    # Only the frame is compared: the rest of the image does not matter here.
    return float(np.mean(frame <= BACKGROUND_LEVEL * bright))


def brightest_percentile(pixels: np.ndarray) -> float:
    """np.percentile(pixels, 99), from a 256-bin histogram when the pixels are uint8.

    The gate runs on every upload: the histogram (one pass, in OpenCV) costs a tenth of the
    partial sort np.percentile does, and its linear interpolation between the two order
    statistics around rank 0.99 (n - 1) gives the same value.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        return float(np.percentile(pixels.astype(np.float32), BRIGHT_PERCENTILE))
    counts = cv2.calcHist([np.ascontiguousarray(pixels)], [0], None, [256], [0, 256])
    cumulative = np.cumsum(counts.ravel())
    rank = (pixels.size - 1) * BRIGHT_PERCENTILE / 100
    below = int(np.floor(rank))
    # The value at 0-based rank r is the first level whose cumulative count exceeds r.
    low, high = np.searchsorted(cumulative, [below, below + 1], side="right")
    return float(low + (high - low) * (rank - below))


def is_framed(pixels: np.ndarray) -> bool:
    return dark_border_share(pixels) >= FRAMED_BORDER_SHARE


@dataclass(frozen=True)
class GaussianBlock:
    """Class means and one shared precision matrix over a run of the gate's features, and
    the block's scale: its median validation distance, so that blocks of any size weigh the
    same in the sum (Lee et al., 2018, combine layers with weights; equal ones need no
    outliers to fit)."""

    means: np.ndarray  # [classes, dim]
    precision: np.ndarray  # [dim, dim]
    scale: float = 1.0

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray) -> GaussianBlock:
        classes = np.unique(labels)
        means = np.stack([features[labels == c].mean(axis=0) for c in classes])
        centred = features - means[np.searchsorted(classes, labels)]
        # Imported here: fitting happens in training, and the server need not import sklearn.
        from sklearn.covariance import LedoitWolf

        # Ledoit-Wolf shrinkage: a 128-d covariance from a few thousand images is noisy.
        return cls(means, LedoitWolf(assume_centered=True).fit(centred).precision_)

    @property
    def width(self) -> int:
        return self.means.shape[1]

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row to the nearest class mean, over self.scale."""
        diffs = features[:, np.newaxis, :] - self.means[np.newaxis, :, :]
        squared = np.einsum("ncd,de,nce->nc", diffs, self.precision, diffs)
        return np.sqrt(np.maximum(squared.min(axis=1), 0.0)) / self.scale


@dataclass(frozen=True)
class FeatureDensity:
    """The gate's feature space: one GaussianBlock per run of features, with limits.

    The score sums the blocks' scaled distances. A model's gate features are an earlier
    stage averaged over the image, then the embedding (ml.model.gate_features); models
    exported before that have the embedding alone, in one block of scale 1.
    """

    blocks: tuple[GaussianBlock, ...]
    low_confidence_above: float
    out_of_distribution_above: float  # for framed images
    # For images without a dark frame; None (older models): low_confidence_above.
    unframed_out_of_distribution_above: float | None = None

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        validation: np.ndarray,
        outliers: np.ndarray,
        outliers_framed: np.ndarray,
        validation_tight_crops: np.ndarray | None = None,
        block_widths: tuple[int, ...] | None = None,
    ) -> FeatureDensity:
        """Gaussians from the training split; scales and limits from validation and the
        development outliers. block_widths split the features' columns (default: one block)."""
        blocks = fit_blocks(features, labels, validation, block_widths or (features.shape[1],))
        unlimited = cls(blocks, np.inf, np.inf)
        scores = unlimited.scores(validation)
        low = float(np.quantile(scores, LOW_CONFIDENCE_QUANTILE))
        floor = float(np.quantile(scores, OUT_OF_DISTRIBUTION_FLOOR_QUANTILE))
        outlier_scores = unlimited.scores(outliers)
        framed = np.asarray(outliers_framed, bool)
        unframed_limit = low
        if validation_tight_crops is not None and len(validation_tight_crops):
            unframed_limit = tight_crop_limit(
                unlimited.scores(validation_tight_crops), outlier_scores[~framed], low
            )
        framed_limit = outlier_exposure_limit(outlier_scores, framed, unframed_limit, floor)
        return cls(blocks, low, framed_limit, unframed_limit)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Each row's summed distance to the nearest class mean of every block."""
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        widths = tuple(block.width for block in self.blocks)
        if features.shape[1] != sum(widths):
            raise ValueError(f"{features.shape[1]} gate features; the statistics hold {widths}.")
        runs = zip(self.blocks, _column_runs(widths), strict=True)
        return sum(block.distances(features[:, columns]) for block, columns in runs)

    def limit(self, framed: bool) -> float:
        if framed:
            return self.out_of_distribution_above
        if self.unframed_out_of_distribution_above is None:
            return self.low_confidence_above
        return self.unframed_out_of_distribution_above

    def judge(self, features, framed: bool = True) -> GateResult:
        score = float(self.scores(features)[0])
        limit = self.limit(framed)
        relative = score / limit
        if score > limit and framed:
            return GateResult(
                Suitability.OUT_OF_DISTRIBUTION,
                score,
                f"The image is far from every brain-MRI slice the model was trained on "
                f"(distance {score:.2f}, limit {limit:.2f}).",
                relative_score=relative,
            )
        if score > limit:
            return GateResult(
                Suitability.OUT_OF_DISTRIBUTION,
                score,
                f"The image has no dark background around a head and is unlike the training "
                f"slices (distance {score:.2f}, limit {limit:.2f}): not a brain-MRI slice.",
                relative_score=relative,
            )
        if score > self.low_confidence_above:
            return GateResult(
                Suitability.LOW_CONFIDENCE,
                score,
                f"The image is unusual for the training data (distance {score:.2f}, "
                f"typical up to {self.low_confidence_above:.2f}): check the result closely.",
                relative_score=relative,
            )
        return GateResult(
            Suitability.OK,
            score,
            "The image looks like the training slices.",
            relative_score=relative,
        )

    def save(self, model_dir: Path) -> Path:
        path = Path(model_dir) / OOD_FILE
        per_block = {}
        for number, block in enumerate(self.blocks):
            per_block[f"means_{number}"] = block.means.astype(np.float32)
            per_block[f"precision_{number}"] = block.precision.astype(np.float32)
        np.savez(
            path,
            scales=np.array([block.scale for block in self.blocks]),
            thresholds=np.array(
                [
                    self.low_confidence_above,
                    self.out_of_distribution_above,
                    self.limit(framed=False),
                ]
            ),
            **per_block,
        )
        return path

    @classmethod
    def load(cls, model_dir: Path) -> FeatureDensity | None:
        path = Path(model_dir) / OOD_FILE
        if not path.exists():
            return None
        with np.load(path) as stored:
            low, high, *unframed = stored["thresholds"].tolist()
            return cls(_stored_blocks(stored), low, high, unframed[0] if unframed else None)


def fit_blocks(
    features: np.ndarray, labels: np.ndarray, validation: np.ndarray, widths: tuple[int, ...]
) -> tuple[GaussianBlock, ...]:
    """One GaussianBlock per run of `widths` columns, fitted on the training features and
    scaled by its median distance on the validation features."""
    blocks = []
    for columns in _column_runs(widths):
        block = GaussianBlock.fit(features[:, columns], labels)
        scale = float(np.median(block.distances(validation[:, columns])))
        blocks.append(GaussianBlock(block.means, block.precision, scale))
    return tuple(blocks)


def _stored_blocks(stored) -> tuple[GaussianBlock, ...]:
    """The blocks of an ood.npz; files saved before blocks hold one, unscaled."""
    if "means" in stored:
        means, precision = stored["means"], stored["precision"]
        return (GaussianBlock(means.astype(np.float64), precision.astype(np.float64)),)
    return tuple(
        GaussianBlock(
            stored[f"means_{number}"].astype(np.float64),
            stored[f"precision_{number}"].astype(np.float64),
            float(scale),
        )
        for number, scale in enumerate(stored["scales"])
    )


def _column_runs(widths: tuple[int, ...]) -> list[slice]:
    ends = np.cumsum(widths).tolist()
    return [slice(end - width, end) for width, end in zip(widths, ends, strict=True)]


def tight_crop_limit(crop_scores: np.ndarray, unframed_outliers: np.ndarray, low: float) -> float:
    """UNFRAMED_QUANTILE of the tight crops, strictly below every unframed outlier, >= low."""
    wanted = float(np.quantile(crop_scores, UNFRAMED_QUANTILE))
    if len(unframed_outliers):
        wanted = min(wanted, float(np.nextafter(unframed_outliers.min(), -np.inf)))
    return max(low, wanted)


def tight_crops(images: np.ndarray, share: float = 0.7) -> np.ndarray:
    """The central `share` of each preprocessed slice, scaled back up: the skull and the
    dark background cut away, as in slices some sources send. uint8 [N, S, S] in and out."""
    side = images.shape[1]
    cut = int(round(side * (1.0 - share) / 2.0))
    return np.stack(
        [
            cv2.resize(image[cut : side - cut, cut : side - cut], (side, side), cv2.INTER_LINEAR)
            for image in images
        ]
    )


def outlier_exposure_limit(
    scores: np.ndarray, framed: np.ndarray, unframed_limit: float, floor: float
) -> float:
    """The largest framed limit that still flags OUTLIERS_FLAGGED of the outliers, >= floor.

    Unframed outliers are flagged or missed by unframed_limit whatever this limit is; the
    misses left over go to the framed outliers with the lowest distances. The limit sits
    halfway between the last one let through and the first one flagged.
    """
    allowed_misses = int(np.floor((1.0 - OUTLIERS_FLAGGED) * len(scores)))
    missed_anyway = int(np.sum(~framed & (scores <= unframed_limit)))
    framed_scores = np.sort(scores[framed])
    spare = max(allowed_misses - missed_anyway, 0)
    if spare >= len(framed_scores):
        raise ValueError(f"{len(framed_scores)} framed outliers cannot set a limit: add more.")
    let_through = framed_scores[spare - 1] if spare else floor
    first_flagged = framed_scores[spare]
    # Strictly below the first one flagged, even when it ties with the last let through.
    limit = min((let_through + first_flagged) / 2.0, np.nextafter(first_flagged, -np.inf))
    return float(max(floor, limit))


def header_cue(header: Mapping[str, str] | None) -> GateResult | None:
    """Out of distribution when a DICOM header says this is not a brain MR; else None.

    header is `DecodedImage.dicom_header`, read while decoding; None for PNG/JPEG."""
    if header is None:
        return None
    modality = _header_text(header, "Modality")
    body_part = _header_text(header, "BodyPartExamined")
    if modality and modality != "MR":
        return _out(
            f"The DICOM header says Modality {modality}; this model reads MR only.", "header"
        )
    if body_part and body_part not in BRAIN_BODY_PARTS:
        return _out(
            f"The DICOM header says BodyPartExamined {body_part}, not the head or brain.", "header"
        )
    if not modality:
        return GateResult(
            Suitability.LOW_CONFIDENCE, None, "The DICOM header names no Modality.", "header"
        )
    return None


# Header values end up in the stored reason: a hostile file may put anything there.
MAX_HEADER_TEXT = 32


def _header_text(header: Mapping[str, str], keyword: str) -> str:
    """The attribute as short printable text (no NUL bytes, which PostgreSQL refuses)."""
    value = str(header.get(keyword, "") or "")
    printable = "".join(char for char in value if char.isprintable())
    return printable.strip().upper()[:MAX_HEADER_TEXT]


def colour_cue(chroma: float | None) -> GateResult | None:
    """Out of distribution when the image carried real colour (`DecodedImage.chroma`)."""
    if chroma is not None and chroma > COLOUR_CHROMA:
        return _out(
            f"The image is in colour (mean chroma {chroma:.0f}); MRI slices are grey.", "colour"
        )
    return None


def _out(reason: str, cue: str) -> GateResult:
    return GateResult(Suitability.OUT_OF_DISTRIBUTION, None, reason, cue)


def kind_cue(kind: KindEstimate | None, header: Mapping[str, str] | None) -> GateResult | None:
    """Out of distribution when the recogniser does not read the pixels as brain MRI, or
    reads them as another modality than the DICOM header names; else None."""
    if kind is None:
        return None
    if not kind.is_brain_mri:
        other, probability = kind.most_likely_other
        return _out(
            f"Not a brain MRI: it looks like a {KIND_DESCRIPTIONS[other]} ({probability:.2f}; "
            f"brain MRI {kind.brain_mri_probability:.2f}).",
            "kind",
        )
    modality = _header_text(header, "Modality") if header is not None else ""
    if modality and modality != kind.modality:
        return _out(
            f"The DICOM header says Modality {modality}, but the pixels look like "
            f"{KIND_DESCRIPTIONS[kind.kind]} ({kind.probability:.2f}): header and image "
            "disagree.",
            "header",
        )
    return None


def finding_cue(finding: Finding | None, tumour_probability: float | None) -> GateResult | None:
    """Low confidence when the model cannot tell whether a tumour is present: its class label
    inside that band only leans, so it must never read as a confident answer."""
    if finding != Finding.INDETERMINATE:
        return None
    return GateResult(
        Suitability.LOW_CONFIDENCE,
        None,
        f"The model cannot tell whether a tumour is present (tumour probability "
        f"{tumour_probability:.2f}): read the image yourself.",
        "finding",
    )


def assess(
    data: bytes,
    features,
    density: FeatureDensity | None,
    image: DecodedImage | None = None,
    kind: KindEstimate | None = None,
    finding: Finding | None = None,
    tumour_probability: float | None = None,
) -> GateResult:
    """The gate's verdict on one upload: the most severe of its cues, with its reason; on a
    tie the recogniser's reason comes first, as the one a person understands best.

    features are the model's gate features (Prediction.gate_features); image is the upload
    as `decode_image` made it, decoded from data when not given; kind is what the
    recogniser says the image is (Prediction.kind); finding and tumour_probability are the
    model's (Prediction), an indeterminate finding being a low-confidence answer.
    """
    if image is None:
        image = decode_image(data)
    if density is None:
        feature = GateResult(
            Suitability.OK, None, "No feature statistics for this model; header and colour only."
        )
    else:
        feature = density.judge(features, framed=is_framed(image.pixels))
    cues = (
        kind_cue(kind, image.dicom_header),
        header_cue(image.dicom_header),
        colour_cue(image.chroma),
        finding_cue(finding, tumour_probability),
    )
    verdict = next((cue for cue in cues if cue is not None), feature)
    for cue in (*cues, feature):
        if cue is not None and _more_severe(cue, verdict):
            verdict = cue
    # The score is the model's own, whichever cue decided.
    return GateResult(
        verdict.suitability, feature.score, verdict.reason, verdict.cue, feature.relative_score
    )


def _more_severe(a: GateResult, b: GateResult) -> bool:
    return SEVERITY.index(a.suitability) > SEVERITY.index(b.suitability)
