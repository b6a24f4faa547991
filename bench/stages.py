"""Where one request's time goes, stage by stage, in one process on real uploads.

Each stage runs exactly as the API runs it: `ml.decode.decode_image`, the model's own
preprocessing (`ml.preprocess`, compiled as the SavedModel compiles it), the SavedModel
call at batch 1, `api.storage.DiskBlobStore.write` (fsync) and a record committed to SQLite
(WAL, synchronous=FULL) through `api.db`. What is left of the HTTP latency is the
framework: multipart parsing, authentication, the audit trail, JSON.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from sqlmodel import Session

from api.db import create_db_and_tables, create_db_engine
from api.models import Record
from api.services.ingest import _bytes_to_store
from api.settings import DEFAULT_UID_HASH_SALT
from api.storage import DiskBlobStore
from bench.data import BenchUpload
from ml.decode import decode_image
from ml.inference import Classifier
from ml.preprocess import IMAGE_SIZE, preprocess_batch


@dataclass(frozen=True)
class StageTimes:
    """Median milliseconds per request of each stage."""

    decode_ms: float
    deidentify_ms: float
    preprocess_ms: float
    model_ms: float
    storage_ms: float
    database_ms: float

    @property
    def total_ms(self) -> float:
        return (
            self.decode_ms
            + self.deidentify_ms
            + self.preprocess_ms
            + self.model_ms
            + self.storage_ms
            + self.database_ms
        )


def _median_ms(call: Callable[[object], object], items: list) -> float:
    for item in items[:3]:
        call(item)  # warm-up: first calls compile and fill caches
    seconds = []
    for item in items:
        started = time.perf_counter()
        call(item)
        seconds.append(time.perf_counter() - started)
    return 1000 * statistics.median(seconds)


def time_stages(model_dir: Path, uploads: list[BenchUpload]) -> StageTimes:
    classifier = Classifier.load(model_dir)
    decoded = [decode_image(upload.data) for upload in uploads]
    pixels = [image.pixels[np.newaxis, :, :, np.newaxis] for image in decoded]
    preprocess = tf.function(lambda image: preprocess_batch(image, IMAGE_SIZE))
    with tempfile.TemporaryDirectory() as scratch:
        store = DiskBlobStore(Path(scratch, "blobs"))
        engine = create_db_engine(f"sqlite:///{Path(scratch, 'stages.db')}")
        create_db_and_tables(engine)

        def store_record(image) -> None:
            with Session(engine) as session:
                session.add(_record_like(image))
                session.commit()

        model_total = _median_ms(lambda image: classifier.predict(image[0, :, :, 0]), pixels)
        preprocess_ms = _median_ms(lambda image: preprocess(tf.constant(image)), pixels)
        times = StageTimes(
            decode_ms=_median_ms(lambda upload: decode_image(upload.data), uploads),
            deidentify_ms=_deidentify_ms(uploads, decoded),
            preprocess_ms=preprocess_ms,
            model_ms=model_total - preprocess_ms,
            storage_ms=_median_ms(lambda upload: store.write(upload.data), uploads),
            database_ms=_median_ms(store_record, decoded),
        )
        engine.dispose()
    return times


def _deidentify_ms(uploads: list[BenchUpload], decoded: list) -> float:
    """De-identification of the DICOM uploads, spread over every upload as the mix sends."""
    pairs = list(zip(uploads, decoded, strict=True))
    dicoms = [(u, d) for u, d in pairs if u.media_type == "application/dicom"]
    if not dicoms:
        return 0.0

    def deidentify(pair) -> None:
        upload, image = pair
        _bytes_to_store(upload.data, image, DEFAULT_UID_HASH_SALT)

    per_dicom = _median_ms(deidentify, dicoms)
    return per_dicom * len(dicoms) / len(uploads)


def _record_like(image) -> Record:
    return Record(
        label="glioma",
        probabilities={"glioma": 0.7, "meningioma": 0.1, "no_tumor": 0.1, "pituitary": 0.1},
        model_version="bench",
        media_type=image.media_type,
        image_sha256="0" * 64,
        width=image.width,
        height=image.height,
    )
