"""Time the one training command on this machine: `python -m bench.training --data DIR`.

Runs `python -m ml.train` with the recipe in the served model's card (seed included) into a
temporary folder and writes bench/training.md: the command's wall-clock time against the
issue's 60 minutes, and whether it trained the committed model again (same temperature and
validation figures). Run it with nothing else on the machine; about 45 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from api.settings import Settings
from bench.__main__ import _machine
from ml.artifact import read_card
from ml.config import TrainConfig, config_from_card

RESULTS = Path(__file__).with_name("training.md")
TARGET_MINUTES = 60
# Figures that match to this many decimals come from the same weights.
SAME_MODEL_PLACES = 6
# ml.train takes these from TrainConfig's defaults only: a card with others cannot be rerun.
FIXED_FIELDS = ("weight_decay", "label_smoothing")
NOT_BIT_REPRODUCIBLE = (
    "The same seed did not train the same weights: ml.train is not bit-reproducible (see "
    "`ml.augment.random_intensity`). The validation figures above show how far apart two runs "
    "of the recipe land."
)


def training_arguments(config: dict, data_dir: Path, out_dir: Path) -> list[str]:
    """`python -m ml.train`'s arguments for a card's recipe; a fresh cache under out_dir, so
    that the time includes decoding the images, as on a fresh clone."""
    for name in FIXED_FIELDS:
        if config[name] != getattr(TrainConfig, name):
            raise SystemExit(f"The card's {name} ({config[name]}) is not ml.train's default.")
    command = ["--data", str(data_dir), "--out", str(out_dir), "--version", "bench"]
    command += ["--cache-dir", str(out_dir / "cache")]
    for name in ("seed", "epochs", "batch_size", "width", "learning_rate", "patience"):
        command += [f"--{name.replace('_', '-')}", str(config[name])]
    command += ["--train-sources", *config["train_sources"]]
    # A card written before a field existed was trained with its default.
    recipe = config_from_card(config)
    command += ["--look-weight", str(recipe.look_weight), "--look-prior", str(recipe.look_prior)]
    return command + ["--augmentation", recipe.augmentation]


@dataclass(frozen=True)
class Figures:
    """What a card says about its training run."""

    training_minutes: float
    epochs_run: int
    temperature: float
    accuracy: float
    macro_f1: float
    ece: float
    machine: str  # where it ran, as the card says

    @classmethod
    def of(cls, card: dict) -> Figures:
        after = card["metrics"]["validation"]["after_calibration"]
        return cls(
            training_minutes=card["training"]["seconds"] / 60,
            epochs_run=card["training"]["epochs_run"],
            temperature=card["calibration"]["temperature"],
            accuracy=after["accuracy"],
            macro_f1=after["macro_f1"],
            ece=after["ece"],
            machine=card["training"].get("machine", "an unrecorded machine"),
        )

    def same_model_as(self, other: Figures) -> bool:
        pairs = [(self.temperature, other.temperature), (self.accuracy, other.accuracy)]
        pairs += [(self.macro_f1, other.macro_f1), (self.ece, other.ece)]
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
        ("validation accuracy", f"{new.accuracy:.6f}", f"{committed.accuracy:.6f}"),
        ("validation macro-F1", f"{new.macro_f1:.6f}", f"{committed.macro_f1:.6f}"),
        ("validation ECE after calibration", f"{new.ece:.6f}", f"{committed.ece:.6f}"),
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
