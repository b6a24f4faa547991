"""Measure the trust features of an exported model and write the figures into its card.

    python -m ml.trust_eval --data ../shared/datasets --model models/brain-tumor-cnn/0.6.1

- input gate: AUROC and flagged share on images that are not brain MRI (pydicom's and
  pydicom-data's non-MR DICOM files, scikit-learn's sample photos, random noise) against
  the Sartaj Testing MRI;
- similar cases: precision@5 by class (queries: validation split, index: training split)
  and query latency at 100,000 stored embeddings;
- explanations: how much of each Grad-CAM map lies inside the brain on the test MRI.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from ml.artifact import read_card, write_card
from ml.decode import DecodedImage, ImageDecodeError, decode_image
from ml.evaluate import UNSEEN_SOURCE_SET, held_out_sets
from ml.explain import MIN_MASS_INSIDE_BRAIN, check_heatmap
from ml.inference import Classifier
from ml.labels import CLASSES
from ml.ood import FeatureDensity, Suitability, assess, is_framed, tight_crops
from ml.reexport import dataset_splits, embed
from ml.report import REPORT_FILE
from ml.similar import NEAR_DUPLICATE_SIMILARITY, EmbeddingIndex, normalise, precision_at_k

LATENCY_INDEX_SIZE = 100_000
LATENCY_QUERIES = 300
NOISE_IMAGES = 24
DEVELOPMENT_NOISE_SEED = 1
EVALUATION_NOISE_SEED = 0
DEVELOPMENT_PHOTO = "china"
DEVELOPMENT_SPLIT = (
    "limits set on development non-MRI images, measured on disjoint evaluation ones: "
    "pydicom/pydicom-data files by sha256 of the file-name stem (before the first '_'; "
    "even first byte = development), scikit-learn photo 'china' development and 'flower' "
    "evaluation, noise seed 1 development and seed 0 evaluation; in-distribution limits "
    "from the validation split; the Sartaj Testing folder sets nothing"
)
TRUST_HEADING = "## Trust: input gate, similar cases, explanations"
# Hard cues (header, colour) rank above every feature-space score in the gate's AUROC.
HARD_CUE_RANK = 1e6
GATE = "gate_features"  # the Prediction field the input gate measures


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str
    data: bytes


def development_probes() -> list[Probe]:
    """Non-MRI images that may set the gate's limits (ml.reexport); never evaluated on."""
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
    """Fit the gate's feature statistics on the training split and save them beside the model:
    limits from the validation split and the development non-MRI probes, never from the test."""
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
    """The earlier stage and the embedding; the embedding alone for older models."""
    if gate_width == embedding_width:
        return (embedding_width,)
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


def gate_rows(classifier: Classifier, probes: list[Probe]) -> list[dict]:
    rows = []
    for probe, image in accepted(probes):
        features = classifier.predict(image.pixels).gate_features
        verdict = assess(probe.data, features, classifier.density, image)
        rows.append({"name": probe.name, "kind": probe.kind, "verdict": verdict})
    return rows


def gate_figures(ood_rows: list[dict], mri_rows: list[dict]) -> dict:
    """AUROC of one score: hard cues (header, colour) first, then the distance relative
    to the limit that applies to the image (framed or not), so above 1 means flagged."""
    rows = ood_rows + mri_rows
    truth = np.array([1] * len(ood_rows) + [0] * len(mri_rows))
    relative = np.array([r["verdict"].relative_score for r in rows])
    distance = np.array([r["verdict"].score for r in rows])
    hard = np.array([r["verdict"].cue != "features" for r in rows])
    kinds = sorted({r["kind"] for r in ood_rows})
    return {
        "non_brain_mri_images": len(ood_rows),
        "brain_mri_test_images": len(mri_rows),
        "auroc_gate": float(roc_auc_score(truth, relative + HARD_CUE_RANK * hard)),
        "auroc_pixels_only": float(roc_auc_score(truth, relative)),
        "auroc_distance_only": float(roc_auc_score(truth, distance)),
        "non_brain_mri_flagged": share(ood_rows, Suitability.OUT_OF_DISTRIBUTION),
        "brain_mri_test_flagged": share(mri_rows, Suitability.OUT_OF_DISTRIBUTION),
        "brain_mri_test_low_confidence": share(mri_rows, Suitability.LOW_CONFIDENCE),
        "flagged_by_kind": {
            kind: {
                "n": sum(r["kind"] == kind for r in ood_rows),
                "flagged": share(
                    [r for r in ood_rows if r["kind"] == kind], Suitability.OUT_OF_DISTRIBUTION
                ),
            }
            for kind in kinds
        },
    }


def share(rows: list[dict], verdict: Suitability) -> float:
    return float(np.mean([r["verdict"].suitability == verdict for r in rows]))


def in_distribution_figures(data, classifier: Classifier, development: list[dict]) -> dict:
    """False alarms on held-out MRI of the training sources (the validation split), the
    limits, and how the limits do on the development non-MRI images that set them."""
    density = classifier.density
    features = embed(classifier, data.images[data.validation], GATE)
    framed = np.array(
        [is_framed(decode_image(data.samples[i].path.read_bytes()).pixels) for i in data.validation]
    )
    verdicts = [
        {"verdict": density.judge(e, bool(f))} for e, f in zip(features, framed, strict=True)
    ]
    return {
        "split": DEVELOPMENT_SPLIT,
        "limits": {
            "low_confidence_above": density.low_confidence_above,
            "out_of_distribution_above_framed": density.out_of_distribution_above,
            "out_of_distribution_above_unframed": density.limit(framed=False),
        },
        "validation_images": len(verdicts),
        "validation_out_of_distribution": share(verdicts, Suitability.OUT_OF_DISTRIBUTION),
        "validation_low_confidence": share(verdicts, Suitability.LOW_CONFIDENCE),
        "validation_unframed": float(np.mean(~framed)),
        "development_non_mri_images": len(development),
        "development_non_mri_flagged": share(development, Suitability.OUT_OF_DISTRIBUTION),
    }


def score_test_mri(data, classifier: Classifier) -> tuple[list[dict], list[float]]:
    """Gate verdicts and the share of Grad-CAM mass in the brain, on the Sartaj Testing folder."""
    rows, inside = [], []
    for i in data.splits.test:
        raw = data.samples[i].path.read_bytes()
        image = decode_image(raw)
        explanation = classifier.explain(image.pixels)
        inside.append(check_heatmap(image.pixels, explanation.heatmap).mass_inside_brain)
        verdict = assess(raw, explanation.gate_features, classifier.density, image)
        correct = explanation.label == data.samples[i].label
        rows.append(
            {
                "name": data.samples[i].key,
                "kind": "brain MRI",
                "verdict": verdict,
                "correct": correct,
            }
        )
    return rows, inside


def never_seen(indices: np.ndarray, data) -> np.ndarray:
    """Those of `indices` with no near-copy among the images the model trained or was
    calibrated on: the Nickparvar folder holds re-encoded Sartaj images too."""
    seen = set(data.groups[np.concatenate([data.train, data.validation])].tolist())
    return np.array([i for i in indices if data.groups[i] not in seen], dtype=np.int64)


def unseen_source_gate(data_dir: Path, cache_dir: Path, experiment: Path) -> dict:
    """The gate of the cross-source experiment (trained without Nickparvar) on the Nickparvar
    MRI: brain MRI from a source the model never saw, which it should let through. Images
    near-identical to one it trained on are left out.

    The experiment's gate statistics are fitted again first, as ml.train fits them today, so
    the figure speaks for today's rules whenever the experiment was trained."""
    metadata = read_card(experiment)
    config = metadata["config"]
    data = dataset_splits(data_dir, cache_dir, config)
    held_out = held_out_sets(data.samples, data.splits, config["train_sources"])
    unseen = held_out.get(UNSEEN_SOURCE_SET)
    if unseen is None:
        raise SystemExit(f"{experiment} was trained with Nickparvar images: none is unseen.")
    fit_input_gate(experiment, data.images, data.labels, data.train, data.validation)
    classifier = Classifier.load(experiment)
    probes = [
        Probe(data.samples[i].key, "brain MRI", data.samples[i].path.read_bytes())
        for i in never_seen(unseen, data)
    ]
    rows = gate_rows(classifier, probes)
    return {
        "experiment": metadata["version"],
        "trained_on": config["train_sources"],
        "images": len(rows),
        "out_of_distribution": share(rows, Suitability.OUT_OF_DISTRIBUTION),
        "low_confidence": share(rows, Suitability.LOW_CONFIDENCE),
    }


def accuracy_by_suitability(mri_rows: list[dict]) -> dict:
    """Is the gate catching images the model gets wrong? Accuracy per verdict."""
    figures = {}
    for verdict in Suitability:
        group = [r["correct"] for r in mri_rows if r["verdict"].suitability == verdict]
        accuracy = float(np.mean(group)) if group else None
        figures[verdict.value] = {"n": len(group), "accuracy": accuracy}
    return figures


def retrieval_figures(data, classifier: Classifier) -> dict:
    index = embed(classifier, data.images[data.train])
    queries = embed(classifier, data.images[data.validation])
    hits = precision_at_k(index, data.labels[data.train], queries, data.labels[data.validation])
    per_class = {
        name: float(hits[data.labels[data.validation] == c].mean())
        for c, name in enumerate(CLASSES)
    }
    return {
        "precision_at_5_by_class": per_class,
        "precision_at_5_mean": float(hits.mean()),
        "queries": len(queries),
        "index_size": len(index),
        "latency_at_100k": latency_figures(index),
        "near_duplicates": near_duplicate_figures(data, index),
    }


def latency_figures(embeddings: np.ndarray, k: int = 10) -> dict:
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(embeddings), LATENCY_INDEX_SIZE)
    vectors = embeddings[picks] + rng.normal(0, 0.05, (LATENCY_INDEX_SIZE, embeddings.shape[1]))
    index = EmbeddingIndex(embeddings.shape[1])
    index.add(np.arange(LATENCY_INDEX_SIZE), vectors)
    timings = []
    for q in rng.integers(0, len(embeddings), LATENCY_QUERIES):
        started = time.perf_counter()
        index.search(embeddings[q], k)
        timings.append((time.perf_counter() - started) * 1000.0)
    return {
        "stored": LATENCY_INDEX_SIZE,
        "k": k,
        "median_ms": float(np.median(timings)),
        "p95_ms": float(np.percentile(timings, 95)),
        "cpus": os.cpu_count(),
    }


def near_duplicate_figures(data, index: np.ndarray) -> dict:
    """How the near-duplicate threshold separates known copies from other training pairs."""
    from ml.duplicates import near_duplicate_pairs

    train_images = data.images[data.train]
    pairs = near_duplicate_pairs(train_images)
    unit = normalise(index)
    copies = np.einsum("nd,nd->n", unit[pairs[:, 0]], unit[pairs[:, 1]]) if len(pairs) else []
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(unit), (2, 20_000))
    others = np.einsum("nd,nd->n", unit[a[a != b]], unit[b[a != b]])
    return {
        "threshold": NEAR_DUPLICATE_SIMILARITY,
        "known_copy_pairs": len(pairs),
        "known_copies_marked": float(np.mean(np.asarray(copies) >= NEAR_DUPLICATE_SIMILARITY)),
        "random_pairs_marked": float(np.mean(others >= NEAR_DUPLICATE_SIMILARITY)),
    }


def heatmap_figures(inside: list[float]) -> dict:
    values = np.array(inside)
    return {
        "images": len(values),
        "mass_inside_brain_median": float(np.median(values)),
        "mass_inside_brain_p10": float(np.percentile(values, 10)),
        "flagged_implausible": float(np.mean(values < MIN_MASS_INSIDE_BRAIN)),
    }


def write_figures(model_dir: Path, figures: dict, command: str) -> None:
    card = read_card(model_dir)
    card["trust"] = {**figures, "reproduce": command}
    write_card(model_dir, card)
    report = model_dir / REPORT_FILE
    text = report.read_text() if report.exists() else f"# {card['name']} {card['version']}\n"
    text = text.split(TRUST_HEADING)[0].rstrip() + "\n\n" + trust_markdown(figures, command)
    report.write_text(text)


def unseen_source_rows(unseen: dict | None) -> list[tuple[str, str, str]]:
    if unseen is None:
        return []
    return [
        (
            f"Nickparvar MRI, unseen source ({unseen['images']}), under the cross-source "
            f"experiment {unseen['experiment']} (trained on "
            f"{', '.join(unseen['trained_on'])} only): out_of_distribution / low_confidence",
            f"{unseen['out_of_distribution']:.1%} / {unseen['low_confidence']:.1%}",
            "",
        )
    ]


def gate_table_rows(gate: dict, dev: dict, unseen: dict | None = None) -> str:
    rows = [
        (
            "input gate AUROC, evaluation non-MRI vs Sartaj Testing MRI (one score, below)",
            f"{gate['auroc_gate']:.3f}",
            "≥ 0.99",
        ),
        (
            "input gate AUROC, pixels only (relative distance)",
            f"{gate['auroc_pixels_only']:.3f}",
            "",
        ),
        ("input gate AUROC, feature distance alone", f"{gate['auroc_distance_only']:.3f}", ""),
        (
            f"evaluation non-brain-MRI images flagged out_of_distribution "
            f"({gate['non_brain_mri_images']})",
            f"{gate['non_brain_mri_flagged']:.1%}",
            "≥ 95 %",
        ),
        (
            f"Sartaj Testing MRI flagged out_of_distribution ({gate['brain_mri_test_images']})",
            f"{gate['brain_mri_test_flagged']:.1%}",
            "≤ 2 %",
        ),
        ("Sartaj Testing MRI low_confidence", f"{gate['brain_mri_test_low_confidence']:.1%}", ""),
        (
            f"validation MRI (held out, training sources; {dev['validation_images']}) "
            "out_of_distribution / low_confidence",
            f"{dev['validation_out_of_distribution']:.1%} / {dev['validation_low_confidence']:.1%}",
            "",
        ),
        ("validation MRI without a dark frame", f"{dev['validation_unframed']:.1%}", ""),
        *unseen_source_rows(unseen),
        (
            f"development non-MRI flagged ({dev['development_non_mri_images']}; set the limits)",
            f"{dev['development_non_mri_flagged']:.1%}",
            "",
        ),
    ]
    return "".join(f"| {name} | {value} | {target} |\n" for name, value, target in rows)


def gate_method(dev: dict) -> str:
    limits = dev["limits"]
    return (
        "\nHow the gate decides. Hard cues first: a DICOM header that is not a head/brain MR, "
        "or colour, is out_of_distribution. Otherwise the Mahalanobis distance to the nearest "
        "class (Gaussians fitted on the training split; for models with two feature blocks, "
        "the third stage averaged and the embedding, the sum of both distances, each in units "
        "of its median validation distance) is compared with a limit that depends "
        "on whether at least half of the image border is dark background (a framed head): "
        f"{limits['out_of_distribution_above_framed']:.2f} for framed images (the largest "
        "limit that still flags 95 % of the development non-MRI images, never below the "
        "validation 99.5th percentile), "
        f"{limits['out_of_distribution_above_unframed']:.2f} for unframed ones (the 99th "
        "percentile of tight crops of the validation slices, below every development non-MRI "
        "image without a frame, never below the low-confidence limit "
        f"{limits['low_confidence_above']:.2f}, the validation 97.5th percentile); images "
        "between the low-confidence limit and theirs are low_confidence. "
        "The AUROC ranks hard cues first, then distance / applicable limit. "
        f"Split: {dev['split']}.\n"
    )


def trust_markdown(f: dict, command: str) -> str:
    gate, retrieval, heat = f["input_gate"], f["similar_cases"], f["explanations"]
    latency, dup = retrieval["latency_at_100k"], retrieval["near_duplicates"]
    out = io.StringIO()
    out.write(f"{TRUST_HEADING}\n\nReproduce: `{command}`\n\n")
    out.write("| figure | value | target |\n|---|---|---|\n")
    out.write(gate_table_rows(gate, f["input_gate_development"], f.get("input_gate_unseen_source")))
    for name, value in retrieval["precision_at_5_by_class"].items():
        out.write(f"| precision@5, {name} (validation → training index) | {value:.3f} | ≥ 0.90 |\n")
    out.write(
        f"| similar-case query, {latency['stored']:,} stored, k={latency['k']}, "
        f"{latency['cpus']} CPUs | median {latency['median_ms']:.1f} ms, "
        f"p95 {latency['p95_ms']:.1f} ms | ≤ 50 ms |\n"
    )
    out.write(
        f"| near-duplicate mark (cosine ≥ {dup['threshold']}): known copies / random pairs "
        f"| {dup['known_copies_marked']:.1%} / {dup['random_pairs_marked']:.2%} | |\n"
    )
    out.write(
        f"| Grad-CAM mass inside the brain mask, test MRI (median, 10th percentile) "
        f"| {heat['mass_inside_brain_median']:.2f}, {heat['mass_inside_brain_p10']:.2f} | |\n"
    )
    out.write(f"| Grad-CAM maps flagged implausible | {heat['flagged_implausible']:.1%} | |\n")
    out.write("\nModel accuracy on the Sartaj Testing MRI, by the gate's verdict:\n\n")
    out.write("| suitability | n | accuracy |\n|---|---|---|\n")
    for verdict, row in f["sartaj_testing_accuracy_by_suitability"].items():
        accuracy = "–" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        out.write(f"| {verdict} | {row['n']} | {accuracy} |\n")
    out.write(gate_method(f["input_gate_development"]))
    out.write(
        "\nFlagged share by kind of non-brain-MRI image (evaluation set):\n\n"
        "| kind | n | flagged |\n|---|---|---|\n"
    )
    for kind, row in gate["flagged_by_kind"].items():
        out.write(f"| {kind} | {row['n']} | {row['flagged']:.0%} |\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    parser.add_argument(
        "--unseen-source-model",
        type=Path,
        help="the cross-source experiment (trained without Nickparvar): its gate is also "
        "measured on the Nickparvar MRI it never saw",
    )
    args = parser.parse_args(argv)
    classifier = Classifier.load(args.model)
    if classifier.density is None or not classifier.can_explain:
        raise SystemExit(f"{args.model} has no gate statistics or explain signature: reexport it.")
    data = dataset_splits(args.data, args.cache_dir, classifier.metadata["config"])
    mri_rows, inside = score_test_mri(data, classifier)
    development = gate_rows(classifier, development_probes())
    figures = {
        "input_gate": gate_figures(gate_rows(classifier, evaluation_probes()), mri_rows),
        "input_gate_development": in_distribution_figures(data, classifier, development),
        "sartaj_testing_accuracy_by_suitability": accuracy_by_suitability(mri_rows),
        "similar_cases": retrieval_figures(data, classifier),
        "explanations": heatmap_figures(inside),
    }
    command = f"python -m ml.trust_eval --data {args.data} --model {args.model}"
    if args.unseen_source_model:
        figures["input_gate_unseen_source"] = unseen_source_gate(
            args.data, args.cache_dir, args.unseen_source_model
        )
        command += f" --unseen-source-model {args.unseen_source_model}"
    write_figures(args.model, figures, command)
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
