"""Train, calibrate, evaluate and export the tumour classifier and image-kind recogniser:
one command, fixed seed.

    python -m ml.train --data ../shared/datasets --out models/brain-tumor-cnn

Every source trains: Sartaj Training, Nickparvar (figshare, Br35H and Sartaj copies),
Br35H (its tumours of unlabelled type teach "a tumour", ml.objective), Feltrin (with the
fifth class, other_tumour) and the other kinds of image (for the recogniser only).
The Sartaj Testing folder and every image near-identical to one in it never train, select
or calibrate anything; they are only scored, through the exported SavedModel. Images of the
brain-MRI sets that look like CT (ml.kind_check) train as brain CT, never as MRI.

With --hold-out-origins, those origins neither train nor validate and are scored as a new
hospital would see them (leave-one-source-out; ml.loso runs the four).
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
from ml.averaging import WeightAveraging, remeasure_batch_statistics
from ml.cache import GroupedSet, prepare_grouped
from ml.config import TRAIN_FLAGS, TrainConfig, config_from_card
from ml.datasets import Sample
from ml.evaluate import evaluate_exported
from ml.export import Calibration, export_model
from ml.finding import choose_thresholds
from ml.gate import fit_input_gate
from ml.kind_check import cached_ct_probability, ct_suspects
from ml.labels import BRAIN_MRI, KIND_NAMES
from ml.mirror import mirror_averaged_logits
from ml.model import INTENSITY_NORMALISATIONS, build_model
from ml.objective import (
    NO_TUMOR_INDEX,
    Targets,
    TumourAndKindLoss,
    calibrated_kinds,
    calibrated_probabilities,
    encode_targets,
    fit_calibration,
    kind_weights,
    recogniser_limit,
    tumour_weights,
)
from ml.report import write_report
from ml.splits import make_splits

MODEL_NAME = "brain-tumor-cnn"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, TrainConfig]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, required=True, help="e.g. models/brain-tumor-cnn")
    parser.add_argument("--cache-dir", type=Path, default=Path("var/cache"))
    defaults = TrainConfig()
    numeric = ("seed", "epochs", "batch_size", "width", "learning_rate", "patience")
    numeric += ("kind_loss_weight", "style_mixing", "origin_power", "weight_averaging")
    for field in ("version", *numeric):
        value = getattr(defaults, field)
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--augmentation", choices=sorted(RECIPES), default=defaults.augmentation)
    parser.add_argument("--intensity", choices=INTENSITY_NORMALISATIONS, default=defaults.intensity)
    parser.add_argument(
        "--hold-out-origins",
        nargs="*",
        default=list(defaults.hold_out_origins),
        help="origins that neither train nor validate, scored as unseen sources",
    )
    args = parser.parse_args(argv)
    values = {name: getattr(args, name) for name in TRAIN_FLAGS}
    return args, TrainConfig(**{**values, "hold_out_origins": tuple(args.hold_out_origins)})


@dataclass(frozen=True)
class Plan:
    """Which images a run trains, validates and holds out."""

    train: np.ndarray
    validation: np.ndarray
    held_out: np.ndarray  # the held-out origins' images (no near-copy trains)
    test: np.ndarray  # the Sartaj Testing folder
    test_leak_free: np.ndarray
    excluded: np.ndarray  # near-copies of test images, never used


def main(argv: list[str] | None = None) -> Path:
    args, config = parse_args(argv)
    keras.utils.set_random_seed(config.seed)
    started = time.monotonic()
    data = prepare_grouped(args.data, args.cache_dir)
    ct_probability = cached_ct_probability(data, config.seed, args.cache_dir)
    targets = training_targets(data, ct_suspects(data, ct_probability))
    plan = make_plan(data, config, targets.ct_suspects)
    print(
        f"train {len(plan.train)}  validation {len(plan.validation)}  held out "
        f"{len(plan.held_out)}  test {len(plan.test)} (leak-free {len(plan.test_leak_free)}, "
        f"excluded near-copies {len(plan.excluded)}); {len(targets.ct_suspects)} CT suspects"
    )
    trained = train_and_calibrate(data, targets, plan, config)
    training_seconds = time.monotonic() - started

    out_dir = args.out / config.version
    if out_dir.exists():
        shutil.rmtree(out_dir)
    metadata = _metadata(trained, config, data, targets, plan, training_seconds)
    export_model(trained.model, out_dir, metadata, trained.calibration)
    brain_train = plan.train[targets.kinds[plan.train] == KIND_NAMES.index(BRAIN_MRI)]
    brain_val = plan.validation[targets.kinds[plan.validation] == KIND_NAMES.index(BRAIN_MRI)]
    fit_input_gate(out_dir, data.images, targets.labels, brain_train, brain_val)
    evaluation = evaluate_exported(out_dir, data.samples, plan, targets)
    write_report(out_dir, evaluation)
    print(f"exported {out_dir} in {training_seconds / 60:.1f} min")
    return out_dir


def training_targets(data: GroupedSet, suspects: np.ndarray) -> Targets:
    """Each image's class, kind and origin, and the CT suspects that train nothing."""
    origins = np.array([sample.origin for sample in data.samples])
    return Targets(data.labels, data.kinds, origins, ct_suspects=suspects)


def make_plan(data: GroupedSet, config: TrainConfig, set_aside=()) -> Plan:
    """The leak-free split of every source, less the held-out origins and every image in a
    near-duplicate group with one of theirs, less the images `set_aside` (CT suspects)."""
    samples, groups = data.samples, data.groups
    splits = make_splits(samples, groups, config.seed)
    held = np.array([s.origin in config.hold_out_origins for s in samples])
    held_groups = np.isin(groups, groups[held])
    held_out = np.flatnonzero(held & ~np.isin(np.arange(len(samples)), splits.excluded))
    held_out = held_out[~np.isin(held_out, splits.test)]
    dropped = held_groups | np.isin(np.arange(len(samples)), set_aside)
    return Plan(
        train=splits.train[~dropped[splits.train]],
        validation=splits.validation[~dropped[splits.validation]],
        held_out=held_out,
        test=splits.test,
        test_leak_free=splits.test_leak_free,
        excluded=splits.excluded,
    )


def card_plan(data: GroupedSet, card: dict) -> tuple[Plan, np.ndarray]:
    """The plan an exported run made, and its CT suspects: the card's recipe, and the
    suspects by the keys the card lists."""
    index = {sample.key: i for i, sample in enumerate(data.samples)}
    suspects = np.array([index[key] for key in card["data"]["ct_suspects"]], dtype=np.int64)
    return make_plan(data, config_from_card(card["config"]), suspects), suspects


@dataclass(frozen=True)
class Trained:
    model: keras.Model
    history: dict
    calibration: Calibration
    finding: dict  # FindingThresholds.card()
    recogniser: dict  # the brain-MRI limit and how it was chosen


def train_and_calibrate(data: GroupedSet, targets: Targets, plan: Plan, config) -> Trained:
    """A fresh model fitted on the plan's training images, calibrated on its validation
    images, with the finding thresholds and recogniser limit chosen there too."""
    model = build_model(
        width=config.width, style_mixing=config.style_mixing, intensity=config.intensity
    )
    history = _fit(model, data.images, targets, plan, config)
    logits, kind_logits = predict_logits(model, data.images[plan.validation])
    calibration = fit_calibration(
        logits, targets.labels[plan.validation], kind_logits, targets.kinds[plan.validation]
    )
    tumour_probability = 1.0 - calibrated_probabilities(calibration, logits)[:, NO_TUMOR_INDEX]
    kind_probability = calibrated_kinds(calibration, kind_logits)
    val_labels = targets.labels[plan.validation]
    typed = val_labels >= 0
    thresholds = choose_thresholds(
        tumour_probability[typed],
        targets.is_tumour(val_labels[typed]),
        targets.origins[plan.validation][typed],
    )
    is_mri = targets.kinds[plan.validation] == KIND_NAMES.index(BRAIN_MRI)
    recogniser = recogniser_limit(kind_probability[is_mri, KIND_NAMES.index(BRAIN_MRI)])
    return Trained(model, history, calibration, thresholds.card(), recogniser)


def predict_logits(model: keras.Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class logits, kind logits) for cached preprocessed uint8 images [N, size, size],
    averaged over each image and its mirror as the exported model does."""
    averaged = tf.function(lambda batch: mirror_averaged_logits(model, batch))
    chunks = [
        averaged(tf.constant(_as_input(images[start : start + 128])))
        for start in range(0, len(images), 128)
    ]
    return tuple(np.concatenate([c[k].numpy() for c in chunks]) for k in (0, 1))


def _as_input(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def _fit(model: keras.Model, images, targets: Targets, plan: Plan, config) -> dict:
    recipe = RECIPES[config.augmentation]
    augmenter = build_augmenter(config.seed, recipe)
    steps = int(np.ceil(len(plan.train) / config.batch_size))

    def augment(batch, batch_targets):
        seed = tf.cast(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int32), tf.int64)
        batch = augmenter(tf.cast(batch, tf.float32) / 255.0, training=True)
        return random_intensity(batch, seed, recipe), batch_targets

    encoded = _weighted_targets(targets, plan.train, config.origin_power)
    train = (
        tf.data.Dataset.from_tensor_slices(
            (images[plan.train][..., np.newaxis], encoded[plan.train])
        )
        .shuffle(len(plan.train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    # The validation loss weighs its images as training does its own.
    validation_targets = _weighted_targets(targets, plan.validation, config.origin_power)[
        plan.validation
    ]
    validation = (_as_input(images[plan.validation]), validation_targets)
    trained = _joined(model)
    total_steps = steps * config.epochs
    averaging_steps = int(round(total_steps * config.weight_averaging))
    trained.compile(
        optimizer=keras.optimizers.AdamW(
            _schedule(config.learning_rate, total_steps, averaging_steps),
            weight_decay=config.weight_decay,
        ),
        loss=TumourAndKindLoss(config.kind_loss_weight),
    )
    callbacks = _early_stopping(config.patience)
    if averaging_steps:
        callbacks.append(WeightAveraging(model, first_step=total_steps - averaging_steps))
    history = trained.fit(
        train, validation_data=validation, epochs=config.epochs, callbacks=callbacks, verbose=2
    )
    if averaging_steps:
        remeasure_batch_statistics(model, train.take(AVERAGED_STATISTICS_BATCHES))
    return {key: [float(v) for v in values] for key, values in history.history.items()}


# Training batches, augmented as in training, that measure the averaged weights' batch
# statistics: about 2,500 images, enough for a mean and a variance per channel.
AVERAGED_STATISTICS_BATCHES = 40
# The steady learning rate while weights are averaged, as a share of the peak.
AVERAGING_LEARNING_RATE = 0.2


def _schedule(peak: float, total_steps: int, averaging_steps: int):
    """A cosine decay over the whole schedule to 0; with weights averaged over its last
    `averaging_steps`, a cosine decay to a steady share of the peak before them."""
    if not averaging_steps:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps=total_steps)
    return keras.optimizers.schedules.CosineDecay(
        peak, decay_steps=max(total_steps - averaging_steps, 1), alpha=AVERAGING_LEARNING_RATE
    )


def _weighted_targets(targets: Targets, indices: np.ndarray, origin_power: float) -> np.ndarray:
    """Every image's encoded target, weighted as balanced over `indices` (0 elsewhere)."""
    return encode_targets(
        targets,
        tumour_weights(targets, indices, origin_power),
        kind_weights(targets.kinds, indices),
    )


def _joined(model: keras.Model) -> keras.Model:
    """The model's two heads side by side, as the loss reads them; shares its weights."""
    image = keras.Input(model.input_shape[1:], name="image")
    return keras.Model(image, keras.layers.Concatenate()(model(image)))


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


def _digest(samples: list[Sample], sha256: list[str], indices: np.ndarray) -> dict:
    lines = sorted(f"{samples[i].key}:{sha256[i]}" for i in indices)
    return {"files": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def _metadata(trained: Trained, config, data: GroupedSet, targets, plan: Plan, seconds) -> dict:
    samples, sha256 = data.samples, data.prepared.sha256
    return {
        "name": MODEL_NAME,
        "version": config.version,
        "architecture": "residual CNN from scratch (no pretrained weights), greyscale 128x128, "
        "two heads: tumour classes and image kind",
        "parameters": int(trained.model.count_params()),
        "config": asdict(config),
        "augmentation": RECIPES[config.augmentation].card(),
        "finding_thresholds": trained.finding,
        "recogniser": trained.recogniser,
        "training": {
            "seconds": round(seconds, 1),
            "epochs_run": len(trained.history.get("loss", [])),
            "history": trained.history,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        },
        "data": {
            "train": _digest(samples, sha256, plan.train),
            "validation": _digest(samples, sha256, plan.validation),
            "held_out_origins": _digest(samples, sha256, plan.held_out),
            "test_sartaj": _digest(samples, sha256, plan.test),
            "test_sartaj_leak_free": {
                **_digest(samples, sha256, plan.test_leak_free),
                "keys": sorted(samples[i].key for i in plan.test_leak_free),
            },
            "excluded_near_copies_of_test": len(plan.excluded),
            "ct_suspects": sorted(samples[i].key for i in targets.ct_suspects),
        },
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
