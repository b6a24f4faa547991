"""The commands printed in cards and reports reproduce the recipe that ran."""

from dataclasses import asdict

from ml.config import TrainConfig, recipe_flags
from ml.report import train_command
from ml.train import parse_args


def card_config(**changes) -> dict:
    """A config as a card stores it: JSON, so tuples come back as lists."""
    config = asdict(TrainConfig(**changes))
    return {**config, "train_sources": list(config["train_sources"])}


def test_a_run_of_the_default_recipe_needs_no_flags():
    assert recipe_flags(card_config()) == []


def test_the_flags_name_only_what_differs_from_the_defaults():
    config = card_config(version="0.6.0", patience=0, train_sources=("sartaj",))

    assert recipe_flags(config) == [
        "--version",
        "0.6.0",
        "--patience",
        "0",
        "--train-sources",
        "sartaj",
    ]


def test_a_card_written_before_recipes_had_names_reads_as_the_default_recipe():
    config = card_config()
    del config["augmentation"]

    assert recipe_flags(config, ("augmentation", "patience")) == []


def test_the_training_command_in_a_report_carries_the_recipe_flags():
    command = train_command(card_config(version="0.6.0", patience=0), "models/brain-tumor-cnn")

    assert command == (
        "python -m ml.train --data ../shared/datasets --out models/brain-tumor-cnn "
        "--version 0.6.0 --patience 0"
    )


def test_ml_train_reads_the_printed_flags_back_as_the_same_recipe():
    recipe = TrainConfig(version="0.6.0", patience=0, train_sources=("sartaj",), epochs=45)
    flags = recipe_flags(card_config(**asdict(recipe)))

    _, parsed = parse_args(["--data", "d", "--out", "o", *flags])

    assert parsed == recipe


def test_holding_out_the_probe_is_printed_as_a_bare_flag_and_read_back():
    recipe = TrainConfig(version="0.7.0", train_sources=("sartaj",), hold_out_probe=True)
    flags = recipe_flags(card_config(**asdict(recipe)))

    _, parsed = parse_args(["--data", "d", "--out", "o", *flags])

    assert "--hold-out-probe" in flags and "True" not in flags
    assert parsed == recipe
