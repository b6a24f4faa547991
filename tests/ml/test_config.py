"""The commands printed in cards and reports reproduce the recipe that ran."""

from dataclasses import asdict

from ml.config import TrainConfig, config_from_card, recipe_flags
from ml.report import train_command
from ml.train import parse_args


def card_config(**changes) -> dict:
    """A config as a card stores it: JSON, so tuples come back as lists."""
    config = asdict(TrainConfig(**changes))
    return {**config, "hold_out_origins": list(config["hold_out_origins"])}


def test_a_run_of_the_default_recipe_needs_no_flags():
    assert recipe_flags(card_config()) == []


def test_the_flags_name_only_what_differs_from_the_defaults():
    config = card_config(version="0.7.1", patience=3, hold_out_origins=("feltrin",))

    assert recipe_flags(config) == [
        "--version",
        "0.7.1",
        "--patience",
        "3",
        "--hold-out-origins",
        "feltrin",
    ]


def test_the_training_command_in_a_report_carries_the_recipe_flags():
    command = train_command(card_config(version="0.7.1", epochs=8), "models/brain-tumor-cnn")

    assert command == (
        "python -m ml.train --data ../shared/datasets --out models/brain-tumor-cnn "
        "--version 0.7.1 --epochs 8"
    )


def test_ml_train_reads_the_printed_flags_back_as_the_same_recipe():
    recipe = TrainConfig(version="0.7.1", epochs=8, hold_out_origins=("br35h", "busi"))
    flags = recipe_flags(card_config(**asdict(recipe)))

    _, parsed = parse_args(["--data", "d", "--out", "o", *flags])

    assert parsed == recipe


def test_a_card_from_an_older_recipe_reads_as_todays_fields_only():
    config = {**card_config(), "train_sources": ["sartaj"], "look_weight": 3}
    del config["kind_loss_weight"]

    assert config_from_card(config) == TrainConfig()
