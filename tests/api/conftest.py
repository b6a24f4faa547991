"""Input images for the API tests, made in the test run (no dataset image is committed)."""

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.models import Record
from medimg_testing.tiny_model import export_tiny_model_reading
from ml.labels import BRAIN_MRI

SARTAJ_GLIOMA_TEST_DIR = Path("brain-tumor-mri-sartaj", "Testing", "glioma_tumor")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model of the root conftest, reading every image as brain MRI."""
    return export_tiny_model_reading(BRAIN_MRI, tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def chest_xray_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, reading every image as a chest X-ray: nothing reaches the tumour answer."""
    return export_tiny_model_reading("chest_xray", tmp_path_factory.mktemp("tiny-chest-model"))


def synthetic_head_slice(size: int = 96) -> np.ndarray:
    """A grey ellipse 'head' with a brighter blob: enough structure for real encoders."""
    pixels = np.zeros((size, size), dtype=np.uint8)
    centre = (size // 2, size // 2)
    cv2.ellipse(pixels, centre, (size * 2 // 5, size * 9 // 20), 0, 0, 360, 140, -1)
    cv2.circle(pixels, (size // 3, size // 3), size // 10, 230, -1)
    return pixels


def encode(pixels: np.ndarray, extension: str) -> bytes:
    ok, encoded = cv2.imencode(extension, pixels)
    assert ok, f"OpenCV could not encode {extension}"
    return encoded.tobytes()


@pytest.fixture
def png_bytes() -> bytes:
    return encode(synthetic_head_slice(), ".png")


@pytest.fixture
def jpeg_bytes() -> bytes:
    return encode(synthetic_head_slice(), ".jpg")


@pytest.fixture
def real_glioma_jpeg(dataset_dir: Path) -> bytes:
    """One real slice from the shared Sartaj test split."""
    return min((dataset_dir / SARTAJ_GLIOMA_TEST_DIR).glob("*.jpg")).read_bytes()


@pytest.fixture
def add_record(engine: Engine) -> Callable[..., int]:
    """Store a record straight in the database, without an image; returns its id.

    For list, filter and review tests, where only the record's fields matter.
    """

    def add(**fields) -> int:
        record = Record(
            **{
                "label": "glioma",
                "probabilities": {
                    "glioma": 0.7,
                    "meningioma": 0.1,
                    "no_tumor": 0.1,
                    "pituitary": 0.1,
                },
                "model_version": "0.0.0-test",
                "media_type": "image/png",
                "image_sha256": "0" * 64,
                "width": 96,
                "height": 96,
                **fields,
            }
        )
        with Session(engine) as session:
            session.add(record)
            session.commit()
            return record.id

    return add
