"""The input gate's feature statistics, fitted on a trained model's training images.

The recogniser (ml.kinds) says what kind of image an upload is; on top of it the gate
measures how far the image's features lie from the brain-MRI training slices (ml.ood), so
that kinds never trained on (a mammogram, a photo of a screen, a diagram) are refused too.
Its limits come from the validation split and development non-MRI images only (pydicom's
and pydicom-data's files, scikit-learn's photos, noise); the evaluation ones are disjoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ml.decode import DecodedImage, decode_image
from ml.inference import Classifier
from ml.ood import FeatureDensity, is_framed, tight_crops
from ml.pixels import ImageDecodeError

NOISE_IMAGES = 24
DEVELOPMENT_NOISE_SEED = 1
EVALUATION_NOISE_SEED = 0
DEVELOPMENT_PHOTO = "china"
GATE = "gate_features"  # the Prediction field the input gate measures
EMBED_BATCH = 256


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str
    data: bytes


def development_probes() -> list[Probe]:
    """Non-MRI images that may set the gate's limits (fit_input_gate); never evaluated on."""
    files = [p for p in [*_dicom_probes(), *_photo_probes()] if is_development(p)]
    return [*files, *_noise_probes(DEVELOPMENT_NOISE_SEED)]


def evaluation_probes() -> list[Probe]:
    """Non-MRI images the gate is measured on; disjoint from development_probes."""
    files = [p for p in [*_dicom_probes(), *_photo_probes()] if not is_development(p)]
    return [*files, *_noise_probes(EVALUATION_NOISE_SEED)]


def is_development(probe: Probe) -> bool:
    """The fixed split: by a hash of the file-name stem, so near-copies stay together.

    pydicom ships one picture under many names (SC_rgb_rle, SC_rgb_jpeg, ...): the stem
    before the first underscore groups them. scikit-learn ships two photos: one each.
    """
    if probe.kind.startswith("photo"):
        return probe.name.startswith(DEVELOPMENT_PHOTO)
    stem = probe.name.split("_")[0].split(".")[0]
    return hashlib.sha256(stem.encode()).digest()[0] % 2 == 0


def accepted(probes: list[Probe]) -> list[tuple[Probe, DecodedImage]]:
    """The probes the API would accept, decoded; the rest it refuses with a 4xx before the
    gate, so they say nothing about it."""
    decoded = []
    for probe in probes:
        try:
            decoded.append((probe, decode_image(probe.data)))
        except ImageDecodeError:
            continue
    return decoded


def embed(classifier: Classifier, images: np.ndarray, output: str = "embedding") -> np.ndarray:
    """A Prediction field (the embedding, or the gate's features) through the exported
    serving path, in batches: float32 [N, dim]."""
    rows = []
    for start in range(0, len(images), EMBED_BATCH):
        batch = list(images[start : start + EMBED_BATCH])
        rows.extend(getattr(p, output) for p in classifier.predict_batch(batch))
    return np.asarray(rows, dtype=np.float32)


def probe_features(classifier: Classifier, probes: list[Probe]) -> tuple[np.ndarray, np.ndarray]:
    """Gate features and dark-frame flags of the probes the API would accept."""
    images = [image.pixels for _, image in accepted(probes)]
    features = [classifier.predict(pixels).gate_features for pixels in images]
    return np.asarray(features, dtype=np.float32), np.array([is_framed(p) for p in images])


def fit_input_gate(
    model_dir: Path,
    images: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
) -> FeatureDensity:
    """Fit the gate's feature statistics on the training split's brain-MRI slices (labels:
    their classes, a tumour of unknown type being one more) and save them beside the model:
    limits from the validation split and the development non-MRI probes, never the test."""
    exported = Classifier.load(model_dir)
    outliers, outliers_framed = probe_features(exported, development_probes())
    train_features = embed(exported, images[train], GATE)
    density = FeatureDensity.fit(
        train_features,
        labels[train],
        embed(exported, images[validation], GATE),
        outliers,
        outliers_framed,
        embed(exported, tight_crops(images[validation]), GATE),
        gate_blocks(train_features.shape[1], len(exported.predict(images[0]).embedding)),
    )
    density.save(model_dir)
    return density


def gate_blocks(gate_width: int, embedding_width: int) -> tuple[int, ...]:
    """The earlier stage and the embedding."""
    return (gate_width - embedding_width, embedding_width)


def _dicom_probes() -> list[Probe]:
    import pydicom
    from pydicom.data import get_testdata_files

    probes = []
    for path in sorted(get_testdata_files("**/*")):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # not every test file is DICOM; those are not probes
            continue
        modality = str(header.get("Modality", "") or "")
        # MR files may well be brain MRI; RT dose and segmentations are not pictures.
        if "Rows" not in header or modality in {"MR", "RTDOSE", "SEG"}:
            continue
        data = Path(path).read_bytes()
        if data[128:132] == b"DICM":  # only Part-10 files: the API refuses the others
            probes.append(Probe(Path(path).name, f"dicom {modality or 'no modality'}", data))
    return probes


def _photo_probes() -> list[Probe]:
    from sklearn.datasets import load_sample_images

    probes = []
    for name, rgb in zip(("china", "flower"), load_sample_images().images, strict=True):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        probes.append(Probe(f"{name}.jpg", "photo colour", _encode(bgr, ".jpg")))
        probes.append(Probe(f"{name}-grey.png", "photo grey", _encode(grey, ".png")))
        for row in range(2):
            for col in range(2):
                h, w = grey.shape[0] // 2, grey.shape[1] // 2
                quarter = grey[row * h : (row + 1) * h, col * w : (col + 1) * w]
                probes.append(
                    Probe(f"{name}-grey-{row}{col}.png", "photo grey", _encode(quarter, ".png"))
                )
    return probes


def _noise_probes(seed: int) -> list[Probe]:
    rng = np.random.default_rng(seed)
    probes = []
    for i in range(NOISE_IMAGES):
        size = (int(rng.integers(64, 512)), int(rng.integers(64, 512)))
        if i % 3 == 0:
            pixels = rng.integers(0, 256, size, dtype=np.uint8)
        elif i % 3 == 1:
            pixels = np.clip(rng.normal(128, 40, size), 0, 255).astype(np.uint8)
        else:
            pixels = cv2.GaussianBlur(rng.integers(0, 256, size, dtype=np.uint8), (9, 9), 0)
        probes.append(Probe(f"noise-{i}.png", "noise", _encode(pixels, ".png")))
    return probes


def _encode(pixels: np.ndarray, extension: str) -> bytes:
    return cv2.imencode(extension, pixels)[1].tobytes()
