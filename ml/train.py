"""Train, calibrate, evaluate and export the brain-MRI classifier: one command, fixed seed.

    python -m ml.train --data ../shared/datasets --out models/brain-tumor-cnn

The Sartaj Testing folder and every image near-identical to one in it never train,
select or calibrate anything; they are only scored, through the exported SavedModel.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from ml.augment import RECIPES, build_augmenter, random_intensity
from ml.cache import prepare_grouped
from ml.config import TRAIN_FLAGS, TrainConfig
from ml.datasets import Sample
from ml.evaluate import evaluate_exported
from ml.export import export_model
from ml.labels import CLASSES
from ml.looks import look_log_odds, probe_halves, shortcut_probe
from ml.metrics import calibrated, classification_metrics, fit_temperature
from ml.model import build_model
from ml.report import write_report
from ml.splits import make_splits
from ml.trust_eval import fit_input_gate

MODEL_NAME = "brain-tumor-cnn"
# Pool images whose look contradicts their label, scored by a run that held them out.
PROBE_SET = "shortcut_probe_held_out"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, TrainConfig]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, required=True, help="e.g. models/brain-tumor-cnn")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    defaults = TrainConfig()
    numeric = ("seed", "epochs", "batch_size", "width", "learning_rate", "patience")
    for field in ("version", *numeric, "probe_half", "look_weight", "look_prior"):
        value = getattr(defaults, field)
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--train-sources", nargs="+", default=list(defaults.train_sources))
    parser.add_argument("--augmentation", choices=sorted(RECIPES), default=defaults.augmentation)
    parser.add_argument(
        "--hold-out-probe",
        action="store_true",
        help="train without the images whose look contradicts their label; score them",
    )
    args = parser.parse_args(argv)
    values = {name: getattr(args, name) for name in TRAIN_FLAGS}
    return args, TrainConfig(**{**values, "train_sources": tuple(args.train_sources)})


def main(argv: list[str] | None = None) -> Path:
    args, config = parse_args(argv)
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()
    data = prepare_grouped(args.data, args.cache_dir)
    samples, prepared, labels = data.samples, data.prepared, data.labels
    splits = make_splits(samples, data.groups, config.seed)
    train_idx, val_idx, probe = recipe_indices(samples, data.groups, splits, config)
    corrections = look_corrections(samples, labels, train_idx, config)
    print(
        f"train {len(train_idx)}  validation {len(val_idx)}  test {len(splits.test)} "
        f"(leak-free {len(splits.test_leak_free)}, excluded near-copies {len(splits.excluded)})"
    )

    trained = train_and_calibrate(prepared.images, labels, train_idx, val_idx, config, corrections)
    model, history, temperature = trained.model, trained.history, trained.temperature
    validation = trained.validation
    training_seconds = time.monotonic() - started

    out_dir = args.out / config.version
    if out_dir.exists():
        shutil.rmtree(out_dir)
    metadata = _metadata(
        model,
        config,
        samples,
        prepared.sha256,
        splits,
        train_idx,
        val_idx,
        history,
        training_seconds,
        validation,
        temperature,
    )
    export_model(model, out_dir, metadata, temperature=temperature)
    fit_input_gate(out_dir, prepared.images, labels, train_idx, val_idx)
    evaluation = evaluate_exported(
        out_dir, samples, splits, config.train_sources, {PROBE_SET: probe} if len(probe) else {}
    )
    write_report(out_dir, metadata, evaluation)
    print(f"exported {out_dir} in {training_seconds / 60:.1f} min")
    return out_dir


def recipe_indices(samples: list[Sample], groups: np.ndarray, splits, config: TrainConfig):
    """(training, validation, held-out probe) images of a run: its sources' splits, less the
    probe it holds out and the probe's near-copies, so that no copy of a probe image trains."""
    probe = held_out_probe(samples, groups, splits, config)
    held_out = np.flatnonzero(np.isin(groups, groups[probe]))
    train_idx = _without(_from_sources(splits.train, samples, config.train_sources), held_out)
    val_idx = _without(_from_sources(splits.validation, samples, config.train_sources), held_out)
    return train_idx, val_idx, probe


def held_out_probe(samples: list[Sample], groups: np.ndarray, splits, config) -> np.ndarray:
    """The shortcut probe of the pool's sources in use, or the half of it that the run
    holds out."""
    if not config.hold_out_probe:
        return np.array([], dtype=np.int64)
    pool = np.concatenate([splits.train, splits.validation])
    probe = shortcut_probe(samples, _from_sources(pool, samples, config.train_sources))
    if config.probe_half < 0:
        return probe
    return probe_halves(probe, samples, groups)[config.probe_half]


def _without(indices: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """`indices` in their order (which seeds the shuffle), less `removed`."""
    return indices[~np.isin(indices, removed)]


def _from_sources(indices: np.ndarray, samples: list[Sample], sources: tuple[str, ...]):
    return np.array([i for i in indices if samples[i].source in sources], dtype=np.int64)


@dataclass(frozen=True)
class Trained:
    model: keras.Model
    history: dict
    temperature: float
    validation: dict  # the validation split's metrics before and after calibration


@dataclass(frozen=True)
class LookCorrections:
    """What a run does against the look shortcut (ml.looks); None: nothing."""

    upweighted: np.ndarray | None = None  # images that weigh config.look_weight times
    prior: np.ndarray | None = None  # [N, classes], added to the logits in training


def look_corrections(samples, labels, train_idx, config: TrainConfig) -> LookCorrections:
    upweighted = shortcut_probe(samples, train_idx) if config.look_weight != 1 else None
    prior = None
    if config.look_prior:
        prior = config.look_prior * look_log_odds(samples, labels, train_idx)
    return LookCorrections(upweighted, prior)


def train_and_calibrate(
    images: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    config: TrainConfig,
    corrections: LookCorrections = LookCorrections(),
) -> Trained:
    """A fresh model fitted on train_idx, stopped early and temperature-scaled on val_idx,
    with the corrections in training only: the model's own logits are calibrated."""
    model = build_model(width=config.width)
    history = _fit(model, images, labels, train_idx, val_idx, config, corrections)
    val_logits = predict_logits(model, images[val_idx])
    temperature = fit_temperature(val_logits, labels[val_idx])
    return Trained(
        model, history, temperature, calibration_metrics(labels[val_idx], val_logits, temperature)
    )


def predict_logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Logits for cached preprocessed uint8 images [N, size, size]."""
    return model.predict(_as_input(images), batch_size=128, verbose=0)


def calibration_metrics(y_true: np.ndarray, logits: np.ndarray, temperature: float) -> dict:
    return {
        "before_calibration": classification_metrics(y_true, calibrated(logits, 1.0), CLASSES),
        "after_calibration": classification_metrics(
            y_true, calibrated(logits, temperature), CLASSES
        ),
    }


def _as_input(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def _fit(model, images, labels, train_idx, val_idx, config, corrections: LookCorrections):
    recipe = RECIPES[config.augmentation]
    augmenter = build_augmenter(config.seed, recipe)
    steps = int(np.ceil(len(train_idx) / config.batch_size))
    class_weight = _balanced_class_weights(labels[train_idx])

    def augment(batch, batch_labels, *rest):
        seed = tf.cast(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int32), tf.int64)
        batch = augmenter(batch, training=True)
        return random_intensity(batch, seed, recipe), batch_labels, *rest

    columns = (_as_input(images[train_idx]), labels[train_idx])
    if corrections.upweighted is not None:
        # Sample weights replace Keras's class_weight, so they carry the class weights too.
        weights = sample_weights(labels, train_idx, class_weight, corrections.upweighted, config)
        columns += (weights,)
        class_weight = None
    validation = (
        _as_input(images[val_idx]),
        keras.utils.to_categorical(labels[val_idx], len(CLASSES)),
    )
    fitted = model
    if corrections.prior is not None:
        # The prior rides along as a second input, after the weights if any.
        columns += (corrections.prior[train_idx],)
        fitted = _with_prior(model)
        validation = ((validation[0], corrections.prior[val_idx]), validation[1])
    train = (
        tf.data.Dataset.from_tensor_slices(columns)
        .shuffle(len(train_idx), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .map(lambda x, y, *rest: _fit_inputs(x, y, rest, corrections.prior is not None))
        .prefetch(tf.data.AUTOTUNE)
    )
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps * config.epochs, warmup_target=None
    )
    fitted.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=["accuracy"],
    )
    history = fitted.fit(
        train,
        validation_data=validation,
        epochs=config.epochs,
        callbacks=_early_stopping(config.patience),
        class_weight=class_weight,
        verbose=2,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def _fit_inputs(images, labels, rest: tuple, with_prior: bool) -> tuple:
    """(inputs, one-hot labels[, sample weights]) as Keras's fit takes them."""
    targets = tf.one_hot(labels, len(CLASSES))
    if not with_prior:
        return (images, targets, *rest)
    *weights, prior = rest
    return ((images, prior), targets, *weights)


def _with_prior(model: keras.Model) -> keras.Model:
    """The model's logits plus a second input: what it is trained through, sharing its
    weights."""
    image = keras.Input(model.input_shape[1:], name="image")
    prior = keras.Input((len(CLASSES),), name="look_prior")
    return keras.Model([image, prior], keras.layers.Add()([model(image), prior]))


def sample_weights(labels, train_idx, class_weight, upweighted, config) -> np.ndarray:
    weights = np.array([class_weight[int(k)] for k in labels[train_idx]], dtype=np.float32)
    weights[np.isin(train_idx, upweighted)] *= config.look_weight
    return weights


def _early_stopping(patience: int) -> list[keras.callbacks.Callback]:
    """Stop after `patience` epochs without a better validation loss and keep the best
    epoch's weights; with patience 0, train every epoch of the schedule and keep the last."""
    if patience == 0:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )
    ]


def _balanced_class_weights(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels, minlength=len(CLASSES))
    return {k: float(len(labels) / (len(CLASSES) * c)) for k, c in enumerate(counts)}


def _digest(samples: list[Sample], sha256: list[str], indices: np.ndarray) -> dict:
    lines = sorted(f"{samples[i].key}:{sha256[i]}" for i in indices)
    return {"files": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def _metadata(
    model,
    config,
    samples,
    sha256,
    splits,
    train_idx,
    val_idx,
    history,
    seconds,
    validation,
    temperature,
) -> dict:
    return {
        "name": MODEL_NAME,
        "version": config.version,
        "architecture": "residual CNN from scratch (no pretrained weights), greyscale 128x128",
        "parameters": int(model.count_params()),
        "config": asdict(config),
        "augmentation": RECIPES[config.augmentation].card(),
        "training": {
            "seconds": round(seconds, 1),
            "epochs_run": len(history.get("loss", [])),
            "history": history,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        },
        "data": {
            "train": _digest(samples, sha256, train_idx),
            "validation": _digest(samples, sha256, val_idx),
            "test_sartaj": _digest(samples, sha256, splits.test),
            "test_sartaj_leak_free": {
                **_digest(samples, sha256, splits.test_leak_free),
                "keys": sorted(samples[i].key for i in splits.test_leak_free),
            },
            "excluded_near_copies_of_test": len(splits.excluded),
        },
        "calibration": {
            "method": "temperature scaling on the validation split",
            "temperature": temperature,
        },
        "metrics": {"validation": validation},
        "libraries": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
    }


if __name__ == "__main__":
    main()
