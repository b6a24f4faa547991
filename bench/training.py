"""Time the one training command on this machine: `python -m bench.training --data DIR`.

Runs `python -m ml.train` with the recipe in the served model's card (seed included) into a
temporary folder and writes bench/training.md: the command's wall-clock time against the
issue's 90 minutes (#24), and whether it trained the committed model again (same calibration,
final validation loss and Sartaj Testing figures). Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from api.settings import Settings
from bench.__main__ import _machine
from ml.artifact import read_card
from ml.config import TRAIN_FLAGS, TrainConfig, config_from_card, recipe_flags

RESULTS = Path(__file__).with_name("training.md")
TARGET_MINUTES = 90
# Figures that match to this many decimals come from the same weights.
SAME_MODEL_PLACES = 6
# ml.train takes these from TrainConfig's defaults only: a card with others cannot be rerun.
FIXED_FIELDS = tuple(name for name in asdict(TrainConfig()) if name not in TRAIN_FLAGS)
NOT_BIT_REPRODUCIBLE = (
    "The same seed did not train the same weights: ml.train is not bit-reproducible (see "
    "`ml.augment.random_intensity`). The figures above show how far apart two runs of the "
    "recipe land."
)


def training_arguments(config: dict, data_dir: Path, out_dir: Path) -> list[str]:
    """`python -m ml.train`'s arguments for a card's recipe (ml.config.recipe_flags), as
    version `bench`; a fresh cache under out_dir, so that the time includes decoding the
    images and the CT check, as on a fresh clone."""
    recipe = config_from_card(config)  # a field the card predates takes its default
    for name in FIXED_FIELDS:
        if getattr(recipe, name) != getattr(TrainConfig(), name):
            raise SystemExit(
                f"The card's {name} ({getattr(recipe, name)}) is not ml.train's default."
            )
    command = ["--data", str(data_dir), "--out", str(out_dir)]
    command += ["--cache-dir", str(out_dir / "cache")]
    return command + recipe_flags({**asdict(recipe), "version": "bench"})


@dataclass(frozen=True)
class Figures:
    """What a card says about its training run. The Sartaj Testing figures only tell two
    runs apart here; they choose nothing."""

    training_minutes: float
    epochs_run: int
    temperature: float
    validation_loss: float  # the last epoch's
    testing_accuracy: float
    testing_sensitivity: float
    machine: str  # where it ran, as the card says

    @classmethod
    def of(cls, card: dict) -> Figures:
        testing = card["evaluation"]["sartaj_testing"]
        return cls(
            training_minutes=card["training"]["seconds"] / 60,
            epochs_run=card["training"]["epochs_run"],
            temperature=card["calibration"]["temperature"],
            validation_loss=card["training"]["history"]["val_loss"][-1],
            testing_accuracy=testing["accuracy"],
            testing_sensitivity=testing["sensitivity"],
            machine=card["training"].get("machine", "an unrecorded machine"),
        )

    def same_model_as(self, other: Figures) -> bool:
        pairs = [(self.temperature, other.temperature)]
        pairs += [(self.validation_loss, other.validation_loss)]
        pairs += [(self.testing_accuracy, other.testing_accuracy)]
        pairs += [(self.testing_sensitivity, other.testing_sensitivity)]
        return all(round(a - b, SAME_MODEL_PLACES) == 0 for a, b in pairs)


def render(
    model_dir: Path,
    arguments: list[str],
    minutes: float,
    load_before: float,
    new: Figures,
    committed: Figures,
) -> str:
    met = "met" if minutes <= TARGET_MINUTES else "not met"
    same_model = new.same_model_as(committed)
    rows = [
        ("the command, wall clock", f"{minutes:.1f} min", f"≤ {TARGET_MINUTES} min ({met})"),
        (
            "of which data, fitting and calibration (card's `training.seconds`)",
            f"{new.training_minutes:.1f} min",
            f"{committed.training_minutes:.1f} min (on {committed.machine})",
        ),
        ("epochs run", str(new.epochs_run), str(committed.epochs_run)),
        ("temperature", f"{new.temperature:.6f}", f"{committed.temperature:.6f}"),
        (
            "validation loss, last epoch",
            f"{new.validation_loss:.6f}",
            f"{committed.validation_loss:.6f}",
        ),
        (
            "Sartaj Testing accuracy",
            f"{new.testing_accuracy:.6f}",
            f"{committed.testing_accuracy:.6f}",
        ),
        (
            "Sartaj Testing tumour sensitivity",
            f"{new.testing_sensitivity:.6f}",
            f"{committed.testing_sensitivity:.6f}",
        ),
        (
            f"the committed model again (figures equal to {SAME_MODEL_PLACES} places)",
            "yes" if same_model else "no",
            "",
        ),
    ]
    lines = [
        "# Training time",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}; load average "
        f"{load_before:.2f} when it started. Reproduce: `python -m bench.training --data "
        "../shared/datasets`, which runs the recipe in the card of "
        f"`{model_dir.as_posix()}`:",
        "",
        f"    python -m ml.train {shlex.join(arguments)}",
        "",
        "| figure | this run | target, or the committed model's card |",
        "|---|---|---|",
        *(f"| {name} | {value} | {other} |" for name, value, other in rows),
        "",
    ]
    if not same_model:
        lines += [NOT_BIT_REPRODUCIBLE, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared datasets folder")
    parser.add_argument("--model-dir", type=Path, default=Settings(_env_file=None).model_dir)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    card = read_card(args.model_dir)
    shown = training_arguments(card["config"], args.data, Path("TMP"))
    with tempfile.TemporaryDirectory(prefix="medimg-train-bench-") as out:
        arguments = training_arguments(card["config"], args.data.resolve(), Path(out))
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "ml.train", *arguments], check=True)
        minutes = (time.monotonic() - started) / 60
        new_card = read_card(Path(out) / "bench")
    report = render(
        args.model_dir, shown, minutes, load_before, Figures.of(new_card), Figures.of(card)
    )
    args.results.write_text(report)
    print(report)
    return args.results


if __name__ == "__main__":
    main()
