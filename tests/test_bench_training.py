"""bench.training reruns exactly the recipe in the served model's card."""

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from api.settings import Settings
from bench.training import Figures, training_arguments
from ml.artifact import METADATA_FILE
from ml.config import TrainConfig, config_from_card
from ml.train import parse_args

CARD = json.loads((Settings(_env_file=None).model_dir / METADATA_FILE).read_text())
# A card of the served kind, with the figures bench.training compares.
TRAINED_CARD = {
    "config": {**asdict(TrainConfig(epochs=20, width=24)), "version": "0.7.0"},
    "calibration": {"temperature": 0.8},
    "training": {"seconds": 3600.0, "epochs_run": 20, "history": {"val_loss": [0.9, 0.4]}},
    "evaluation": {"sartaj_testing": {"accuracy": 0.81, "sensitivity": 0.97}},
}


@pytest.mark.parametrize("config", [CARD["config"], TRAINED_CARD["config"]])
def test_the_training_bench_passes_ml_train_the_recipe_in_a_card(config: dict):
    arguments = training_arguments(config, Path("data"), Path("out"))

    parsed, rerun = parse_args(arguments)

    # A card written before a recipe field existed was trained with its default.
    assert replace(rerun, version="bench") == replace(config_from_card(config), version="bench")
    assert rerun.version == "bench"
    assert parsed.cache_dir == Path("out/cache")  # decoding is timed too, as on a fresh clone


def test_a_card_trained_with_a_setting_ml_train_cannot_take_is_refused():
    config = {**TRAINED_CARD["config"], "weight_decay": 0.5}

    with pytest.raises(SystemExit, match="weight_decay"):
        training_arguments(config, Path("data"), Path("out"))


def test_a_rerun_counts_as_the_same_model_only_when_its_figures_match():
    committed = Figures.of(TRAINED_CARD)
    drifted = Figures.of({**TRAINED_CARD, "calibration": {"temperature": 0.8 + 1e-4}})

    assert committed.same_model_as(Figures.of(json.loads(json.dumps(TRAINED_CARD))))
    assert not drifted.same_model_as(committed)
    assert committed.validation_loss == 0.4 and committed.training_minutes == 60.0
