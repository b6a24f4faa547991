"""Measure the trust features of an exported model and write the figures into its card.

    python -m ml.trust_eval --data ../shared/datasets --model models/brain-tumor-cnn/0.12.0

- input gate, open set: AUROC and refused share on kinds of image the model never trained
  on (ml.gate.evaluation_probes: non-MR DICOM test files, a scikit-learn photo, noise; none
  of them set a limit) against the Sartaj Testing brain MRI, and the model's accuracy there
  by the gate's verdict;
- similar cases: precision@5 by class (queries: the validation split's typed brain MRI,
  index: the training split's) and query latency at 100,000 stored embeddings;
- explanations: how much of each Grad-CAM map lies inside the brain on the Sartaj Testing MRI.

The card is the one place figures live: they go into its `trust` field, and the evaluation
report gets a section written from them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from ml.artifact import read_card, write_card
from ml.cache import prepare_grouped
from ml.config import config_from_card
from ml.decode import decode_image
from ml.explain import MIN_MASS_INSIDE_BRAIN, check_heatmap
from ml.gate import Probe, accepted, development_probes, embed, evaluation_probes
from ml.inference import Classifier
from ml.labels import BRAIN_MRI, CLASSES, KIND_NAMES
from ml.ood import Suitability, assess
from ml.report import REPORT_FILE, rewrite_markdown
from ml.similar import NEAR_DUPLICATE_SIMILARITY, EmbeddingIndex, normalise, precision_at_k
from ml.train import make_plan

LATENCY_INDEX_SIZE = 100_000
LATENCY_QUERIES = 300
DEVELOPMENT_SPLIT = (
    "limits set on development non-MRI images, measured on disjoint evaluation ones: "
    "pydicom/pydicom-data files by sha256 of the file-name stem (before the first '_'; "
    "even first byte = development), scikit-learn photo 'china' development and 'flower' "
    "evaluation, noise seed 1 development and seed 0 evaluation; in-distribution limits "
    "from the validation split; the Sartaj Testing folder sets nothing"
)
TRUST_HEADING = "## Trust: input gate, similar cases, explanations"
# Hard cues (recogniser, header, colour) rank above every feature-space score in the AUROC.
HARD_CUE_RANK = 1e6


@dataclass(frozen=True)
class BrainMri:
    """The run's brain-MRI images (CT suspects left out), as ml.train split them."""

    samples: list
    images: np.ndarray
    labels: np.ndarray  # ml.cache label indices
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray  # the Sartaj Testing folder


def brain_mri_splits(data_dir: Path, cache_dir: Path, card: dict) -> BrainMri:
    data = prepare_grouped(data_dir, cache_dir)
    plan = make_plan(data, config_from_card(card["config"]))
    suspects = set(card.get("data", {}).get("ct_suspects", []))
    brain = np.array(
        [
            kind == KIND_NAMES.index(BRAIN_MRI) and sample.key not in suspects
            for kind, sample in zip(data.kinds, data.samples, strict=True)
        ]
    )
    return BrainMri(
        samples=data.samples,
        images=data.images,
        labels=data.labels,
        train=plan.train[brain[plan.train]],
        validation=plan.validation[brain[plan.validation]],
        test=plan.test[brain[plan.test]],
    )


def gate_rows(classifier: Classifier, probes: list[Probe]) -> list[dict]:
    """The gate's verdict on each probe the API would accept, as the API reaches it."""
    rows = []
    for probe, image in accepted(probes):
        prediction = classifier.predict(image.pixels)
        verdict = assess(
            probe.data, prediction.gate_features, classifier.density, image, kind=prediction.kind
        )
        rows.append({"name": probe.name, "kind": probe.kind, "verdict": verdict})
    return rows


def gate_figures(ood_rows: list[dict], mri_rows: list[dict]) -> dict:
    """AUROC of one score: hard cues (recogniser, header, colour) first, then the distance
    relative to the limit that applies to the image (framed or not), so above 1 is refused."""
    rows = ood_rows + mri_rows
    truth = np.array([1] * len(ood_rows) + [0] * len(mri_rows))
    relative = np.array([r["verdict"].relative_score for r in rows], dtype=float)
    distance = np.array([r["verdict"].score for r in rows], dtype=float)
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


def development_figures(classifier: Classifier, development: list[dict]) -> dict:
    """The limits, and how they do on the development non-MRI images that set them."""
    density = classifier.density
    return {
        "split": DEVELOPMENT_SPLIT,
        "limits": {
            "low_confidence_above": density.low_confidence_above,
            "out_of_distribution_above_framed": density.out_of_distribution_above,
            "out_of_distribution_above_unframed": density.limit(framed=False),
        },
        "development_non_mri_images": len(development),
        "development_non_mri_flagged": share(development, Suitability.OUT_OF_DISTRIBUTION),
    }


def score_test_mri(data: BrainMri, classifier: Classifier) -> tuple[list[dict], list[float]]:
    """Gate verdicts, whether the answered class is right, and the share of Grad-CAM mass in
    the brain, on the Sartaj Testing MRI: the label and the gate as the API makes them."""
    rows, inside = [], []
    for i in data.test:
        sample = data.samples[i]
        raw = sample.path.read_bytes()
        image = decode_image(raw)
        prediction = classifier.predict(image.pixels)
        heatmap = classifier.explain(image.pixels).heatmap
        inside.append(check_heatmap(image.pixels, heatmap).mass_inside_brain)
        verdict = assess(
            raw, prediction.gate_features, classifier.density, image, kind=prediction.kind
        )
        correct = prediction.label == sample.label
        rows.append(
            {"name": sample.key, "kind": "brain MRI", "verdict": verdict, "correct": correct}
        )
    return rows, inside


def accuracy_by_suitability(mri_rows: list[dict]) -> dict:
    """Is the gate catching images the model gets wrong? Accuracy per verdict."""
    figures = {}
    for verdict in Suitability:
        group = [r["correct"] for r in mri_rows if r["verdict"].suitability == verdict]
        accuracy = float(np.mean(group)) if group else None
        figures[verdict.value] = {"n": len(group), "accuracy": accuracy}
    return figures


def retrieval_figures(data: BrainMri, classifier: Classifier) -> dict:
    """Precision@5 of similar cases among the typed brain MRI, by class."""
    typed = len(CLASSES)
    train = data.train[(data.labels[data.train] >= 0) & (data.labels[data.train] < typed)]
    queries = data.validation[
        (data.labels[data.validation] >= 0) & (data.labels[data.validation] < typed)
    ]
    index = embed(classifier, data.images[train])
    hits = precision_at_k(
        index, data.labels[train], embed(classifier, data.images[queries]), data.labels[queries]
    )
    per_class = {
        name: float(hits[data.labels[queries] == c].mean())
        for c, name in enumerate(CLASSES)
        if (data.labels[queries] == c).any()
    }
    return {
        "precision_at_5_by_class": per_class,
        "precision_at_5_mean": float(hits.mean()),
        "queries": len(queries),
        "index_size": len(index),
        "latency_at_100k": latency_figures(index),
        "near_duplicates": near_duplicate_figures(data.images[train], index),
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


def near_duplicate_figures(train_images: np.ndarray, index: np.ndarray) -> dict:
    """How the near-duplicate threshold separates known copies from other training pairs."""
    from ml.duplicates import near_duplicate_pairs

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
    """The figures into the card's `trust` field; the report rewritten from the card, with
    the trust section after it (ml.report does not render `trust`, so rerun this after it)."""
    card = read_card(model_dir)
    card["trust"] = {**figures, "reproduce": command}
    write_card(model_dir, card)
    rewrite_markdown(model_dir)
    report = model_dir / REPORT_FILE
    report.write_text(report.read_text().rstrip() + "\n\n" + trust_markdown(figures, command))


def gate_table_rows(gate: dict, dev: dict) -> str:
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
            f"evaluation non-brain-MRI images refused ({gate['non_brain_mri_images']})",
            f"{gate['non_brain_mri_flagged']:.1%}",
            "≥ 95 %",
        ),
        (
            f"Sartaj Testing MRI refused ({gate['brain_mri_test_images']})",
            f"{gate['brain_mri_test_flagged']:.1%}",
            "≤ 2 %",
        ),
        ("Sartaj Testing MRI low_confidence", f"{gate['brain_mri_test_low_confidence']:.1%}", ""),
        (
            f"development non-MRI refused ({dev['development_non_mri_images']}; set the limits)",
            f"{dev['development_non_mri_flagged']:.1%}",
            "",
        ),
    ]
    return "".join(f"| {name} | {value} | {target} |\n" for name, value, target in rows)


def gate_method(dev: dict) -> str:
    limits = dev["limits"]
    return (
        "\nHow the gate decides. Hard cues first: the recogniser does not read the pixels as "
        "brain MRI, a DICOM header that is not a head/brain MR or disagrees with the pixels, "
        "or colour: out_of_distribution. Otherwise the Mahalanobis distance to the nearest "
        "class (Gaussians fitted on the training split's brain MRI; the third stage averaged "
        "and the embedding, the sum of both distances, each in units of its median validation "
        "distance) is compared with a limit that depends on whether at least half of the "
        "image border is dark background (a framed head): "
        f"{limits['out_of_distribution_above_framed']:.2f} for framed images, "
        f"{limits['out_of_distribution_above_unframed']:.2f} for unframed ones; above "
        f"{limits['low_confidence_above']:.2f} (the validation 97.5th percentile) an image is "
        "low_confidence. The AUROC ranks hard cues first, then distance / applicable limit. "
        f"Split: {dev['split']}.\n"
    )


def trust_markdown(f: dict, command: str) -> str:
    gate, retrieval, heat = f["input_gate"], f["similar_cases"], f["explanations"]
    latency, dup = retrieval["latency_at_100k"], retrieval["near_duplicates"]
    out = io.StringIO()
    out.write(f"{TRUST_HEADING}\n\nReproduce: `{command}`\n\n")
    out.write("| figure | value | target |\n|---|---|---|\n")
    out.write(gate_table_rows(gate, f["input_gate_development"]))
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
        "\nRefused share by kind of non-brain-MRI image (evaluation set):\n\n"
        "| kind | n | refused |\n|---|---|---|\n"
    )
    for kind, row in gate["flagged_by_kind"].items():
        out.write(f"| {kind} | {row['n']} | {row['flagged']:.0%} |\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    args = parser.parse_args(argv)
    classifier = Classifier.load(args.model)
    if classifier.density is None:
        raise SystemExit(f"{args.model} has no gate statistics (ood.npz): train it again.")
    data = brain_mri_splits(args.data, args.cache_dir, classifier.metadata)
    mri_rows, inside = score_test_mri(data, classifier)
    figures = {
        "input_gate": gate_figures(gate_rows(classifier, evaluation_probes()), mri_rows),
        "input_gate_development": development_figures(
            classifier, gate_rows(classifier, development_probes())
        ),
        "sartaj_testing_accuracy_by_suitability": accuracy_by_suitability(mri_rows),
        "similar_cases": retrieval_figures(data, classifier),
        "explanations": heatmap_figures(inside),
    }
    command = f"python -m ml.trust_eval --data {args.data} --model {args.model}"
    write_figures(args.model, figures, command)
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
