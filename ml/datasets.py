"""Find the public datasets' images and give each a canonical class and source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ml.labels import FOLDER_TO_CLASS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SARTAJ = "brain-tumor-mri-sartaj"
NICKPARVAR = "brain-tumor-mri-nickparvar"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    source: str  # "sartaj" or "nickparvar"
    split: str  # the dataset's own folder: "Training" or "Testing"

    @property
    def key(self) -> str:
        """A stable id, relative to the data directory, used in reports and hashes."""
        return f"{self.source}/{self.split}/{self.path.parent.name}/{self.path.name}"

    @property
    def is_sartaj_test(self) -> bool:
        return self.source == "sartaj" and self.split == "Testing"


def data_dir_from_env() -> Path | None:
    value = os.environ.get("MEDIMG_DATA_DIR")
    return Path(value) if value else None


def list_samples(data_dir: Path) -> list[Sample]:
    samples = []
    for folder, source in ((SARTAJ, "sartaj"), (NICKPARVAR, "nickparvar")):
        root = Path(data_dir) / folder
        for split_dir in sorted(p for p in root.glob("*") if p.is_dir()):
            for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                label = FOLDER_TO_CLASS[class_dir.name]
                samples.extend(
                    Sample(path, label, source, split_dir.name)
                    for path in sorted(class_dir.iterdir())
                    if path.suffix.lower() in IMAGE_SUFFIXES
                )
    if not samples:
        raise FileNotFoundError(f"No dataset images under {data_dir}; set MEDIMG_DATA_DIR.")
    return samples
