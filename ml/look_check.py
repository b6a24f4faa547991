"""Does a network tell the figshare look by its pixels' statistics? Development data only.

    python -m ml.look_check --data ../shared/datasets \\
        --experiment var/experiments/shortcut/0.6.1-scanner-probe

The experiment is a run that held out the shortcut probe (ml.train --hold-out-probe). Its
held-out probe tumours are classified as they are and after each change below, made to
the preprocessed image (ml.cache), through the exported model. If the network told the
look by intensities, sharpness or compression, giving the probe tumours the figshare
set's intensities or taking away detail would change its answers; the figshare tumours of
the run's validation split are scored the same way, to show the changes leave a tumour
recognisable. It reads neither the Sartaj Testing folder nor any image the run trained on,
except to learn the figshare set's intensities from its training images.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ml.artifact import read_card
from ml.cache import prepare_grouped
from ml.config import config_from_card
from ml.inference import Classifier
from ml.labels import NO_TUMOR
from ml.looks import figshare_sized
from ml.preprocess import HEAD_THRESHOLD
from ml.splits import make_splits
from ml.train import recipe_indices

QUANTILES = np.linspace(0.0, 1.0, 257)


def head_mask(image: np.ndarray) -> np.ndarray:
    """The pixels ml.preprocess counts as head, not air."""
    return image > HEAD_THRESHOLD * image.max()


def head_quantiles(image: np.ndarray) -> np.ndarray:
    return np.quantile(image[head_mask(image)].astype(np.float64), QUANTILES)


def match_intensities(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The head's pixels mapped, by rank, onto the reference quantiles; air stays as it is."""
    out = image.astype(np.float64)
    head = head_mask(out)
    values = out[head]
    ranks = np.searchsorted(np.sort(values), values, side="right") / len(values)
    out[head] = np.interp(ranks, QUANTILES, reference)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def half_resolution(image: np.ndarray) -> np.ndarray:
    size = image.shape[1], image.shape[0]
    small = cv2.resize(image, (size[0] // 2, size[1] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)


def blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), 1.0)


def recompress(image: np.ndarray, quality: int = 20) -> np.ndarray:
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def changes(reference: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "figshare intensities": lambda image: match_intensities(image, reference),
        "Gaussian blur, sigma 1 pixel": blur,
        "half resolution": half_resolution,
        "JPEG quality 20": recompress,
    }


def labels_of(classifier: Classifier, images: np.ndarray) -> np.ndarray:
    return np.array([p.label for p in classifier.predict_batch(list(images))])


def check(data_dir: Path, cache_dir: Path, experiment: Path) -> dict:
    card = read_card(experiment)
    config = config_from_card(card["config"])
    data = prepare_grouped(data_dir, cache_dir)
    samples, images = data.samples, data.images
    splits = make_splits(samples, data.groups, config.seed)
    figshare = figshare_sized(samples)
    tumour = np.array([s.label != NO_TUMOR for s in samples])
    train, validation, probe = recipe_indices(samples, data.groups, splits, config)
    probe = [i for i in probe if tumour[i]]
    reference = np.mean([head_quantiles(images[i]) for i in train if figshare[i] and tumour[i]], 0)
    control = [i for i in validation if figshare[i] and tumour[i]]
    classifier = Classifier.load(experiment)
    probe_before = labels_of(classifier, images[probe])
    result = {
        "experiment": experiment.as_posix(),
        "probe_tumours": len(probe),
        "figshare_validation_tumours": len(control),
        "as_they_are": _counts(probe_before, labels_of(classifier, images[control])),
    }
    for name, change in changes(reference).items():
        changed_probe = labels_of(classifier, np.stack([change(images[i]) for i in probe]))
        changed_control = labels_of(classifier, np.stack([change(images[i]) for i in control]))
        result[name] = {
            **_counts(changed_probe, changed_control),
            "probe_answers_changed": int((changed_probe != probe_before).sum()),
        }
    return result


def _counts(probe_labels: np.ndarray, control_labels: np.ndarray) -> dict:
    return {
        "probe_tumours_called_no_tumor": int((probe_labels == NO_TUMOR).sum()),
        "figshare_validation_tumours_called_no_tumor": int((control_labels == NO_TUMOR).sum()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument("--experiment", type=Path, required=True, help="a --hold-out-probe run")
    args = parser.parse_args(argv)
    result = check(args.data, args.cache_dir, args.experiment)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
