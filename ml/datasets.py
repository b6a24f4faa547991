"""Find the datasets' images and give each its label, kind, source and origin.

Sources are the folders in shared/; origins are where an image was first published, which
is what a leave-one-source-out run holds out: Nickparvar copies figshare's tumours (the
512x512 contrast-T1 slices), Br35H's normals and Sartaj's other tumours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ml.labels import BRAIN_MRI, FOLDER_TO_CLASS, KIND_NAMES, NO_TUMOR

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SARTAJ = "brain-tumor-mri-sartaj"
NICKPARVAR = "brain-tumor-mri-nickparvar"
BR35H = "brain-tumor-mri-br35h"
FELTRIN = "brain-tumor-mri-feltrin"
OTHER_MODALITIES = "other-modalities"
# Folders of a brain-MRI set: the set's own splits, or its class folders directly.
BRAIN_SETS = (
    (SARTAJ, "sartaj"),
    (NICKPARVAR, "nickparvar"),
    (BR35H, "br35h"),
    (FELTRIN, "feltrin"),
)
# The brain-MRI origins a leave-one-source-out evaluation holds out in turn.
BRAIN_ORIGINS = ("sartaj", "figshare", "br35h", "feltrin")
FIGSHARE_SIZE = (512, 512)
# Feltrin's folder of lesions that are not tumours (granuloma, tuberculoma): brain MRI for
# the recogniser, no class for the tumour model.
NON_TUMOUR_LESION = "other_lesion"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str | None  # a class, ml.labels.TUMOUR_OF_UNKNOWN_TYPE, or None (no tumour class)
    source: str  # the shared/ set: sartaj, nickparvar, br35h, feltrin or other
    split: str  # the set's own folder above the class: "Training", "Testing" or ""
    kind: str = BRAIN_MRI  # ml.labels.KINDS
    origin: str = ""  # where the image comes from (see the module's docstring)
    sequence: str = ""  # Feltrin's T1, T1C+ or T2, from the file name

    @property
    def key(self) -> str:
        """A stable id, relative to the data directory, used in reports and hashes."""
        parts = [self.source, self.split, self.path.parent.name, self.path.name]
        return "/".join(part for part in parts if part)

    @property
    def is_sartaj_test(self) -> bool:
        return self.source == "sartaj" and self.split == "Testing"

    @property
    def is_brain_mri(self) -> bool:
        return self.kind == BRAIN_MRI


def data_dir_from_env() -> Path | None:
    value = os.environ.get("MEDIMG_DATA_DIR")
    return Path(value) if value else None


def list_samples(data_dir: Path, include_other_kinds: bool = True) -> list[Sample]:
    """Every image: the brain-MRI sets, then (unless told not to) the other kinds."""
    samples = []
    for folder, source in BRAIN_SETS:
        samples.extend(_brain_samples(Path(data_dir) / folder, source))
    if include_other_kinds:
        samples.extend(_other_kind_samples(Path(data_dir) / OTHER_MODALITIES))
    if not samples:
        raise FileNotFoundError(f"No dataset images under {data_dir}; set MEDIMG_DATA_DIR.")
    return samples


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _brain_samples(root: Path, source: str) -> list[Sample]:
    if not root.is_dir():
        return []
    samples = []
    for split_dir, class_dir in _class_folders(root):
        label = None if class_dir.name == NON_TUMOUR_LESION else FOLDER_TO_CLASS[class_dir.name]
        split = split_dir.name if split_dir != root else ""
        for path in _images(class_dir):
            samples.append(
                Sample(
                    path,
                    label,
                    source,
                    split,
                    origin=_origin(source, label, path),
                    sequence=_sequence(source, path),
                )
            )
    return samples


def _class_folders(root: Path) -> list[tuple[Path, Path]]:
    """(split folder, class folder) pairs; a set without splits is its own split folder."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if all(p.name in FOLDER_TO_CLASS or p.name == NON_TUMOUR_LESION for p in folders):
        return [(root, p) for p in folders]
    return [(split, p) for split in folders for p in sorted(split.iterdir()) if p.is_dir()]


def _origin(source: str, label: str | None, path: Path) -> str:
    if source != "nickparvar":
        return source
    if label == NO_TUMOR:
        return "br35h"
    with Image.open(path) as image:
        return "figshare" if image.size == FIGSHARE_SIZE else "sartaj"


def _sequence(source: str, path: Path) -> str:
    """Feltrin names each file `<Type>_<sequence>__<id>`; other sets do not say."""
    if source != "feltrin" or "__" not in path.name:
        return ""
    return path.name.split("__")[0].rsplit("_", 1)[-1]


def _other_kind_samples(root: Path) -> list[Sample]:
    if not root.is_dir():
        return []
    samples = []
    for kind in KIND_NAMES:
        folder = root / kind
        if folder.is_dir():
            samples.extend(
                Sample(path, None, "other", "", kind=kind, origin=path.name.split("__")[0])
                for path in _images(folder)
            )
    return samples
