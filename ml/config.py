"""A training run's recipe, and the `python -m ml.train` flags that reproduce it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainConfig:
    version: str = "0.12.0"
    seed: int = 1337
    epochs: int = 14
    batch_size: int = 64
    width: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 0  # epochs without a better validation loss; 0: no early stopping
    augmentation: str = "sources"  # a name in ml.augment.RECIPES
    # MixStyle's per-batch probability after the first two stages (ml.model); 0: none.
    style_mixing: float = 0.0
    # Within a class, each origin's share of the weight grows with its count to this power:
    # 0.5 the square root, 0 the same share for every origin (ml.objective.tumour_weights).
    origin_power: float = 0.5
    # The first layer's brightness normalisation (ml.model.INTENSITY_NORMALISATIONS):
    # "standardize" each image's mean and spread, "equalize" its foreground histogram first,
    # or "both" as two channels.
    intensity: str = "standardize"
    # The share of the schedule, at its end, whose weights are averaged after every step at a
    # steady learning rate (ml.averaging); 0: the last weights, after a cosine decay to 0.
    weight_averaging: float = 0.0
    # Weight of the recogniser's loss (modality and body part) beside the tumour loss.
    kind_loss_weight: float = 1.0
    # Origins (ml.datasets) that neither train nor validate, and are scored as a new
    # hospital would see them: leave-one-source-out evaluation. Empty for a served model.
    hold_out_origins: tuple[str, ...] = ()


# What ml.train takes on its command line, beside --data, --out and --cache-dir.
TRAIN_FLAGS = (
    "version",
    "seed",
    "epochs",
    "batch_size",
    "width",
    "learning_rate",
    "patience",
    "augmentation",
    "style_mixing",
    "origin_power",
    "intensity",
    "weight_averaging",
    "kind_loss_weight",
    "hold_out_origins",
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
    known = asdict(TrainConfig())
    values = {**known, **{k: v for k, v in config.items() if k in known}}
    return TrainConfig(**{**values, "hold_out_origins": tuple(values["hold_out_origins"])})
