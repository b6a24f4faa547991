"""Data audit: exact and near-duplicates, label conflicts, and images of the brain-MRI sets
that are not brain MRI (the CT check before training, and what the served recogniser says).

    python -m ml.audit --data ../shared/datasets --out reports \
        --model models/brain-tumor-cnn/0.12.0

Writes data-audit.json (every group, by file) and data-audit.md (the summary).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from ml.cache import prepare_grouped
from ml.datasets import Sample
from ml.decode import decode_image
from ml.duplicates import NEAR_CORRELATION, PHASH_MAX_BITS
from ml.inference import Classifier
from ml.kind_check import SUSPECT_PROBABILITY, cached_ct_probability, ct_suspects
from ml.splits import make_splits

# A colour image whose channels differ this much on average is no greyscale MRI.
COLOUR_DIFFERENCE = 8.0
MIN_SIDE = 64


def _groups_of(keys: list[str]) -> list[list[int]]:
    members = defaultdict(list)
    for index, key in enumerate(keys):
        members[key].append(index)
    return [group for group in members.values() if len(group) > 1]


def _part(sample: Sample) -> str:
    return f"{sample.source}/{sample.split}"


def _non_mri_suspects(samples: list[Sample]) -> list[dict]:
    suspects = []
    for sample in samples:
        raw = cv2.imread(str(sample.path), cv2.IMREAD_COLOR)
        height, width = raw.shape[:2]
        spread = float(np.abs(raw.astype(np.int16) - raw.mean(axis=2, keepdims=True)).mean())
        reasons = []
        if spread > COLOUR_DIFFERENCE:
            reasons.append(f"colour image (mean channel spread {spread:.1f})")
        if min(height, width) < MIN_SIDE:
            reasons.append(f"tiny ({width}x{height})")
        if reasons:
            suspects.append({"file": sample.key, "reasons": reasons})
    return suspects


def recogniser_disagreements(samples: list[Sample], model_dir: Path) -> list[dict]:
    """Images of the brain-MRI sets that the served recogniser does not read as brain MRI."""
    classifier = Classifier.load(model_dir)
    found = []
    brain = [s for s in samples if s.is_brain_mri]
    for start in range(0, len(brain), 64):
        chunk = brain[start : start + 64]
        images = [decode_image(s.path.read_bytes()).pixels for s in chunk]
        for sample, prediction in zip(chunk, classifier.predict_batch(images), strict=True):
            if not prediction.kind.is_brain_mri:
                found.append(
                    {
                        "file": sample.key,
                        "recogniser": prediction.kind.kind,
                        "probability": round(prediction.kind.probability, 3),
                        "brain_mri_probability": round(prediction.kind.brain_mri_probability, 3),
                    }
                )
    return found


def audit(data_dir: Path, cache_dir: Path, model_dir: Path | None, seed: int = 1337) -> dict:
    data = prepare_grouped(data_dir, cache_dir)
    samples, prepared, groups = data.samples, data.prepared, data.groups
    ct_probability = cached_ct_probability(data, seed, cache_dir)
    pixel_keys = [hashlib.sha256(image.tobytes()).hexdigest() for image in prepared.images]
    near_groups = _groups_of([str(g) for g in groups])
    splits = make_splits(samples, groups, seed)

    def describe(group: list[int]) -> dict:
        return {
            "files": [samples[i].key for i in group],
            "labels": sorted({str(samples[i].label or samples[i].kind) for i in group}),
            "parts": sorted({_part(samples[i]) for i in group}),
        }

    near = [describe(g) for g in near_groups]
    conflicts = [g for g in near if len(g["labels"]) > 1]
    return {
        "thresholds": {"phash_max_bits": PHASH_MAX_BITS, "thumbnail_correlation": NEAR_CORRELATION},
        "images": len(samples),
        "by_part_and_class": dict(Counter(f"{_part(s)}/{s.label or s.kind}" for s in samples)),
        "byte_identical_groups": [describe(g) for g in _groups_of(prepared.sha256)],
        "pixel_identical_after_preprocessing_groups": [describe(g) for g in _groups_of(pixel_keys)],
        "near_duplicate_groups": near,
        "images_in_near_duplicate_groups": sum(len(g) for g in near_groups),
        "groups_across_sartaj_training_and_testing": sum(
            {"sartaj/Training", "sartaj/Testing"} <= set(g["parts"]) for g in near
        ),
        "groups_across_datasets": sum(len({p.split("/")[0] for p in g["parts"]}) > 1 for g in near),
        "label_conflicts": conflicts,
        "sartaj_testing": {
            "images": len(splits.test),
            "near_identical_to_a_non_test_image": len(splits.test) - len(splits.test_leak_free),
            "leak_free": len(splits.test_leak_free),
            "non_test_images_excluded_from_training": len(splits.excluded),
        },
        "non_mri_suspects": _non_mri_suspects([s for s in samples if s.is_brain_mri]),
        "ct_suspects": [
            {"file": samples[i].key, "ct_probability": round(float(ct_probability[i]), 3)}
            for i in ct_suspects(data, ct_probability)
        ],
        "recogniser_model": str(model_dir) if model_dir else None,
        "recogniser_disagreements": (
            recogniser_disagreements(samples, model_dir) if model_dir else []
        ),
    }


def summary(report: dict) -> str:
    test = report["sartaj_testing"]
    lines = [
        "# Data audit",
        "",
        "Reproduce: `python -m ml.audit --data ../shared/datasets --out reports`.",
        f"Near-duplicates: pHash within {report['thresholds']['phash_max_bits']} bits, or 32×32 "
        f"thumbnails correlating ≥ {report['thresholds']['thumbnail_correlation']}, after the "
        "model's own preprocessing (head crop, square pad, 128×128).",
        "",
        f"- Images: {report['images']}",
        f"- Byte-identical groups: {len(report['byte_identical_groups'])}",
        "- Pixel-identical after preprocessing groups: "
        f"{len(report['pixel_identical_after_preprocessing_groups'])}",
        f"- Near-duplicate groups: {len(report['near_duplicate_groups'])}, holding "
        f"{report['images_in_near_duplicate_groups']} images",
        "- Groups spanning Sartaj Training and Testing: "
        f"{report['groups_across_sartaj_training_and_testing']}",
        f"- Groups spanning both datasets: {report['groups_across_datasets']}",
        f"- Label conflicts (one group, several labels): {len(report['label_conflicts'])}",
        f"- Sartaj Testing: {test['images']} images, {test['near_identical_to_a_non_test_image']} "
        f"near-identical to a Training or Nickparvar image, {test['leak_free']} leak-free; "
        f"{test['non_test_images_excluded_from_training']} non-test images excluded from training "
        "as near-copies of test images",
        f"- Non-MRI suspects (colour or tiny): {len(report['non_mri_suspects'])}",
        f"- CT suspects in the brain-MRI sets (`ml.kind_check`, cross-fitted CT probability "
        f"above {SUSPECT_PROBABILITY}, Sartaj only; they train nothing): "
        f"{len(report['ct_suspects'])}",
        f"- Brain-MRI-set images the served recogniser ({report['recogniser_model']}) does "
        f"not read as brain MRI: {len(report['recogniser_disagreements'])}",
        "",
        "Images by part and class:",
        "",
        "| part/class | images |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(report["by_part_and_class"].items())],
        "",
        "CT suspects:",
        "",
        *[f"- {s['file']} ({s['ct_probability']})" for s in report["ct_suspects"]],
        "",
        "Not brain MRI, says the served recogniser:",
        "",
        *[
            f"- {d['file']}: {d['recogniser']} {d['probability']} "
            f"(brain MRI {d['brain_mri_probability']})"
            for d in report["recogniser_disagreements"]
        ],
        "",
        "First label conflicts:",
        "",
        *[
            f"- {', '.join(g['labels'])}: {', '.join(g['files'][:4])}"
            for g in report["label_conflicts"][:15]
        ],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Audit the datasets for duplicates and leaks.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument("--model", type=Path, help="the served model, for its recogniser")
    args = parser.parse_args(argv)
    report = audit(args.data, args.cache_dir, args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data-audit.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "data-audit.md").write_text(summary(report))
    print(summary(report))
    return report


if __name__ == "__main__":
    main()
