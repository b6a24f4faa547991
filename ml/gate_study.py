"""Which of the network's stages should the input gate measure? Development data only.

    python -m ml.gate_study --data ../shared/datasets --model models/brain-tumor-cnn/0.6.0

For the stem and each residual stage, averaged over the image (alone, or with each
channel's standard deviation), Gaussians per class are fitted on the model's training split
(ml.ood.fit_blocks). A combination sums its stages' distances, each in units of its median
distance on the validation split. Printed per combination:

- AUROC between tight crops of the validation slices (ml.ood.tight_crops: real MRI without
  its dark frame) and the development non-MRI images without a frame;
- AUROC between the validation slices and every development non-MRI image;
- the share of tight crops above the lowest unframed development non-MRI image, which is
  about what an unframed limit that must stay below all of them lets through.

It reads neither the Sartaj Testing folder nor the evaluation non-MRI images: they stay for
measuring the gate that is chosen (ml.trust_eval). This is how the served gate's two blocks
(the third stage and the embedding) were chosen; see the README, "Input gate".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from ml.artifact import read_card
from ml.ood import FeatureDensity, fit_blocks, is_framed, tight_crops
from ml.preprocess import preprocess
from ml.reexport import dataset_splits, rebuild
from ml.trust_eval import accepted, development_probes

STAGES = ("stem", "stage_1", "stage_2", "stage_3", "stage_4")
COMBINATIONS = (
    ("stage_4",),
    ("stage_3",),
    ("stage_2", "stage_3"),
    ("stage_3", "stage_4"),
    ("stage_2", "stage_3", "stage_4"),
    ("stage_1", "stage_2", "stage_3", "stage_4"),
    STAGES,
)
STATISTICS = ("mean", "mean+sd")
BATCH = 128


def stage_statistics(model: keras.Model, images: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per stage: each channel's mean then standard deviation over the image, [N, 2C]."""
    network = keras.Model(model.inputs, [model.get_layer(name).output for name in STAGES])
    rows: dict[str, list[np.ndarray]] = {name: [] for name in STAGES}
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        batch = np.stack([preprocess(tf.constant(p[:, :, np.newaxis])).numpy() for p in chunk])
        for name, maps in zip(STAGES, network(batch, training=False), strict=True):
            maps = maps.numpy()
            rows[name].append(np.concatenate([maps.mean(axis=(1, 2)), maps.std(axis=(1, 2))], 1))
    return {name: np.concatenate(parts) for name, parts in rows.items()}


def pick(features: np.ndarray, statistics: str) -> np.ndarray:
    return features[:, : features.shape[1] // 2] if statistics == "mean" else features


def combined_scores(sets: dict, labels: np.ndarray, stages, statistics: str) -> dict:
    """Each set's score with the stages as the gate's blocks (ml.ood.FeatureDensity): the
    summed distance, each stage in units of its validation median."""

    def features(name: str) -> np.ndarray:
        return np.hstack([pick(sets[name][stage], statistics) for stage in stages])

    widths = tuple(pick(sets["train"][stage], statistics).shape[1] for stage in stages)
    blocks = fit_blocks(features("train"), labels, features("validation"), widths)
    unlimited = FeatureDensity(blocks, np.inf, np.inf)
    return {name: unlimited.scores(features(name)) for name in sets if name != "train"}


def separation(scores: dict, framed: np.ndarray) -> dict:
    unframed = scores["outliers"][~framed]
    crops, validation = scores["crops"], scores["validation"]
    return {
        "auroc_crops_vs_unframed_outliers": _auroc(crops, unframed),
        "auroc_validation_vs_outliers": _auroc(validation, scores["outliers"]),
        "crops_above_lowest_unframed_outlier": float(np.mean(crops >= unframed.min())),
    }


def _auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    truth = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
    return float(roc_auc_score(truth, np.r_[inliers, outliers]))


def development_outliers() -> tuple[list[np.ndarray], np.ndarray]:
    pixels = [image.pixels for _, image in accepted(development_probes())]
    return pixels, np.array([is_framed(p) for p in pixels])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--model", type=Path, required=True, help="e.g. .../0.6.0")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    args = parser.parse_args(argv)

    metadata = read_card(args.model)
    model, _ = rebuild(args.model, metadata)
    data = dataset_splits(args.data, args.cache_dir, metadata["config"])
    outliers, framed = development_outliers()
    sets = {
        "train": stage_statistics(model, list(data.images[data.train])),
        "validation": stage_statistics(model, list(data.images[data.validation])),
        "crops": stage_statistics(model, list(tight_crops(data.images[data.validation]))),
        "outliers": stage_statistics(model, outliers),
    }
    labels = data.labels[data.train]
    rows = []
    print("| stages | statistics | AUROC crops / unframed | AUROC validation / all | crops above |")
    print("|---|---|---|---|---|")
    for statistics in STATISTICS:
        for stages in COMBINATIONS:
            found = separation(combined_scores(sets, labels, stages, statistics), framed)
            rows.append({"stages": list(stages), "statistics": statistics, **found})
            print(
                f"| {' + '.join(stages)} | {statistics} | "
                f"{found['auroc_crops_vs_unframed_outliers']:.3f} | "
                f"{found['auroc_validation_vs_outliers']:.4f} | "
                f"{found['crops_above_lowest_unframed_outlier']:.1%} |"
            )
    return rows


if __name__ == "__main__":
    main()
