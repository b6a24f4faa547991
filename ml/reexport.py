"""Re-export a trained model with today's signatures and fit its input-gate statistics.

    python -m ml.reexport --data ../shared/datasets \\
        --source models/brain-tumor-cnn/0.1.0 --version 0.2.1

With `--graph-only` instead of `--version`, the model keeps its version, card and gate: only
its serving graph is saved again from today's code (a faster but equal computation), and
only if the new graph gives the old one's probabilities on real images.

Same weights, no training: the Keras model is rebuilt from the source's configuration, its
variables are restored from the source SavedModel's checkpoint (one to one, or it stops),
and the rebuilt model must reproduce the source's probabilities on real images. The
feature-space statistics of the input gate (ml/ood.py) are fitted on the same training
split the model was trained on, with limits from its validation split and a development
set of non-MRI images (ml.trust_eval.development_probes), never from the test folder.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ml.artifact import read_card, write_card
from ml.cache import prepare_grouped
from ml.datasets import Sample
from ml.decode import decode_image
from ml.export import ServingModule, export_model, save_serving_module
from ml.inference import Classifier
from ml.model import build_model
from ml.preprocess import IMAGE_SIZE
from ml.report import REPORT_FILE
from ml.splits import Splits, make_splits

PARITY_TOLERANCE = 1e-5
PARITY_IMAGES = 64
EMBED_BATCH = 256
# Written by export_model itself; the source's copies would describe the old signatures.
CARD_FIELDS_OF_EXPORT = ("classes", "input", "outputs", "temperature", "intended_use")
COPIED_FILES = ("confusion_matrix.png", "reliability.png", "evaluation.md")


@dataclass(frozen=True)
class DatasetSplits:
    samples: list[Sample]
    images: np.ndarray  # preprocessed uint8 [N, size, size], from the cache
    labels: np.ndarray  # class indices
    splits: Splits
    train: np.ndarray  # indices, restricted to the training sources
    validation: np.ndarray
    groups: np.ndarray  # near-duplicate group id per image


def dataset_splits(data_dir: Path, cache_dir: Path, config: dict) -> DatasetSplits:
    """The training run's split, recomputed exactly as ml.train makes it."""
    data = prepare_grouped(data_dir, cache_dir)
    samples = data.samples
    splits = make_splits(samples, data.groups, int(config["seed"]))
    sources = tuple(config["train_sources"])

    def from_sources(indices: np.ndarray) -> np.ndarray:
        return np.array([i for i in indices if samples[i].source in sources], dtype=np.int64)

    return DatasetSplits(
        samples=samples,
        images=data.images,
        labels=data.labels,
        splits=splits,
        train=from_sources(splits.train),
        validation=from_sources(splits.validation),
        groups=data.groups,
    )


def embed(classifier: Classifier, images: np.ndarray, output: str = "embedding") -> np.ndarray:
    """A Prediction field (the embedding, or the gate's features) through the exported
    serving path, in batches: float32 [N, dim]."""
    rows = []
    for start in range(0, len(images), EMBED_BATCH):
        batch = list(images[start : start + EMBED_BATCH])
        rows.extend(getattr(p, output) for p in classifier.predict_batch(batch))
    return np.asarray(rows, dtype=np.float32)


def rebuild(source: Path, metadata: dict) -> tuple[keras.Model, ServingModule]:
    """The source's weights and temperature in a freshly built model; checked one to one."""
    config = metadata["config"]
    model = build_model(image_size=int(config.get("image_size", IMAGE_SIZE)), width=config["width"])
    module = ServingModule(model, int(model.inputs[0].shape[1]), 1.0)
    checkpoint = str(source / "variables" / "variables")
    stored = [name for name, _ in tf.train.list_variables(checkpoint) if "ATTRIBUTES" in name]
    rebuilt = len(model.weights) + 1  # and the calibration temperature
    if len(stored) != rebuilt:
        raise ValueError(f"{len(stored)} stored variables, {rebuilt} rebuilt.")
    # Restoring raises on any shape mismatch; the count check above catches extra or missing.
    tf.train.Checkpoint(root=module).restore(checkpoint).expect_partial()
    return model, module


def check_parity(module: ServingModule, source: Classifier, images: list[np.ndarray]) -> float:
    """Largest probability difference between the rebuilt and the source model."""
    worst = 0.0
    for pixels in images:
        batch = tf.constant(pixels[np.newaxis, :, :, np.newaxis])
        rebuilt = module.serve(batch)["probabilities"].numpy()[0]
        original = np.array(list(source.predict(pixels).probabilities.values()))
        worst = max(worst, float(np.abs(rebuilt - original).max()))
    if worst > PARITY_TOLERANCE:
        raise ValueError(f"The rebuilt model differs by {worst:.2e} > {PARITY_TOLERANCE}.")
    return worst


def parity_images(data: DatasetSplits) -> list[np.ndarray]:
    """Real test slices decoded from their files, every size and source as they come."""
    chosen = data.splits.test[:: max(1, len(data.splits.test) // PARITY_IMAGES)][:PARITY_IMAGES]
    return [decode_image(data.samples[i].path.read_bytes()).pixels for i in chosen]


def new_card(metadata: dict, version: str, parity: float) -> dict:
    card = {k: v for k, v in metadata.items() if k not in CARD_FIELDS_OF_EXPORT}
    # The new version's graph is exported afresh, not re-saved.
    card.pop("graph_resaved", None)
    card["version"] = version
    card["derived_from"] = {
        "version": metadata["version"],
        "weights": "identical: re-exported by ml.reexport, not retrained",
        "max_probability_difference": parity,
        "outputs_before": metadata.get("outputs", []),
        "input_gate": "statistics (ood.npz) fitted again by today's ml.trust_eval.fit_input_gate",
    }
    return card


def _retitle_report(out_dir: Path, metadata: dict, version: str) -> None:
    """The copied report's figures are the source's; its title says which model it is."""
    report = out_dir / REPORT_FILE
    if not report.exists():
        return
    lines = report.read_text().splitlines(keepends=True)
    lines[0] = (
        f"# {metadata['name']} {version} — evaluation (the weights of {metadata['version']}, "
        "re-exported: the classification figures are theirs, the trust section is new)\n"
    )
    report.write_text("".join(lines))


# What tf.saved_model.save writes; the card, the gate and the reports stay.
SAVED_MODEL_PARTS = ("saved_model.pb", "fingerprint.pb", "variables", "assets")


def resave_graph(model_dir: Path, images: list[np.ndarray]) -> float:
    """Saves the model's serving graph again from today's code, around the same weights;
    refuses (ValueError) when the new graph's probabilities differ from the old one's."""
    metadata = read_card(model_dir)
    _, module = rebuild(model_dir, metadata)
    parity = check_parity(module, Classifier.load(model_dir), images)
    with tempfile.TemporaryDirectory(dir=model_dir.parent) as scratch:
        save_serving_module(module, Path(scratch))
        for name in SAVED_MODEL_PARTS:
            destination = model_dir / name
            if destination.is_dir():
                shutil.rmtree(destination)
            shutil.move(Path(scratch, name), destination)
    metadata["graph_resaved"] = {
        "by": "python -m ml.reexport --graph-only",
        "max_probability_difference": parity,
    }
    write_card(model_dir, metadata)
    return parity


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--source", type=Path, required=True, help="e.g. .../0.1.0")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", help="the new version, e.g. 0.2.1")
    target.add_argument(
        "--graph-only", action="store_true", help="save the source's serving graph again"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    args = parser.parse_args(argv)

    metadata = read_card(args.source)
    data = dataset_splits(args.data, args.cache_dir, metadata["config"])
    if args.graph_only:
        parity = resave_graph(args.source, parity_images(data))
        print(f"saved the serving graph of {args.source} again: max |Δp| = {parity:.1e}")
        return args.source
    source = Classifier.load(args.source)
    model, module = rebuild(args.source, metadata)
    parity = check_parity(module, source, parity_images(data))
    print(f"rebuilt model matches {metadata['version']}: max |Δp| = {parity:.1e}")

    out_dir = args.source.parent / args.version
    if out_dir.exists():
        shutil.rmtree(out_dir)
    temperature = float(module.temperature.numpy())
    export_model(model, out_dir, new_card(metadata, args.version, parity), temperature)
    for name in COPIED_FILES:
        if (args.source / name).exists():
            shutil.copy2(args.source / name, out_dir / name)
    _retitle_report(out_dir, metadata, args.version)

    exported = Classifier.load(out_dir)
    exported_parity = check_parity(module, exported, parity_images(data))
    # Imported here: ml.trust_eval imports this module for the splits.
    from ml.trust_eval import fit_input_gate

    density = fit_input_gate(out_dir, data.images, data.labels, data.train, data.validation)
    print(
        f"exported {out_dir} (max |Δp| {exported_parity:.1e}); gate thresholds "
        f"{density.low_confidence_above:.2f} / {density.out_of_distribution_above:.2f}"
    )
    return out_dir


if __name__ == "__main__":
    main()
