"""A training run's recipe, and the `python -m ml.train` flags that reproduce it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainConfig:
    version: str = "0.1.0"
    seed: int = 1337
    epochs: int = 30
    batch_size: int = 64
    width: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    patience: int = 8  # epochs without a better validation loss; 0: no early stopping
    train_sources: tuple[str, ...] = ("sartaj", "nickparvar")
    augmentation: str = "scanner"  # a name in ml.augment.RECIPES
    # An experiment: train without the images whose look contradicts their label
    # (ml.looks.shortcut_probe) and score the model on them.
    hold_out_probe: bool = False
    # With hold_out_probe: 0 or 1 holds out only that half of the probe's near-duplicate
    # groups and trains on the other; -1 holds out the whole probe.
    probe_half: int = -1
    # Loss weight of the training images whose look contradicts their label, on top of the
    # class weights: 1 treats them as every other image.
    look_weight: float = 1.0
    # How much of what the look alone predicts (ml.looks.look_log_odds) is added to the
    # logits in training, so that the network need not learn it; 0 adds nothing.
    look_prior: float = 0.0


# What ml.train takes on its command line, beside --data, --out and --cache-dir.
TRAIN_FLAGS = (
    "version",
    "seed",
    "epochs",
    "batch_size",
    "width",
    "learning_rate",
    "patience",
    "train_sources",
    "augmentation",
    "hold_out_probe",
    "probe_half",
    "look_weight",
    "look_prior",
)


def recipe_flags(config: Mapping, fields: tuple[str, ...] = TRAIN_FLAGS) -> list[str]:
    """The flags for those of `fields` in a card's config that differ from the defaults, so
    that a printed command reproduces the run and stays short."""
    defaults = asdict(TrainConfig())
    flags: list[str] = []
    for name in fields:
        value = config.get(name, defaults[name])
        if isinstance(value, bool):
            flags += [f"--{name.replace('_', '-')}"] if value else []
        elif isinstance(value, list | tuple):
            if tuple(value) != tuple(defaults[name]):
                flags += [f"--{name.replace('_', '-')}", *value]
        elif value != defaults[name]:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def config_from_card(config: Mapping) -> TrainConfig:
    """The TrainConfig a card's config records; a field the card predates takes its default."""
    values = {**asdict(TrainConfig()), **config}
    return TrainConfig(**{**values, "train_sources": tuple(values["train_sources"])})
