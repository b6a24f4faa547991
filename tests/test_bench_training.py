"""bench.training reruns exactly the recipe in the served model's card."""

import json
from dataclasses import asdict
from pathlib import Path

from api.settings import Settings
from bench.training import Figures, training_arguments
from ml.artifact import METADATA_FILE
from ml.config import TrainConfig
from ml.train import parse_args

CARD = json.loads((Settings(_env_file=None).model_dir / METADATA_FILE).read_text())


def test_the_training_bench_passes_ml_train_the_recipe_in_the_served_models_card():
    arguments = training_arguments(CARD["config"], Path("data"), Path("out"))

    parsed, config = parse_args(arguments)

    rerun = {**asdict(config), "train_sources": list(config.train_sources)}
    # A card written before a recipe field existed was trained with its default.
    card = {**asdict(TrainConfig()), **CARD["config"]}
    assert {k: v for k, v in rerun.items() if k != "version"} == {
        k: v for k, v in card.items() if k != "version"
    }
    assert parsed.cache_dir == Path("out/cache")  # decoding is timed too, as on a fresh clone


def test_the_training_bench_passes_on_a_cards_look_weight():
    config = {**CARD["config"], "look_weight": 3.0}

    _, parsed = parse_args(training_arguments(config, Path("data"), Path("out")))

    assert parsed.look_weight == 3.0


def test_a_rerun_counts_as_the_same_model_only_when_its_figures_match():
    committed = Figures.of(CARD)
    drifted = Figures.of(
        {**CARD, "calibration": {"temperature": CARD["calibration"]["temperature"] + 1e-4}}
    )

    assert committed.same_model_as(Figures.of(json.loads(json.dumps(CARD))))
    assert not drifted.same_model_as(committed)
