"""Grad-CAM explanations of a stored record, and the PNGs they are sent as."""

from typing import Literal

import cv2
import numpy as np
from sqlmodel import Session

from api.models import Record, has_tumour_answer
from api.render import encode_png
from api.security import Actor
from api.services.records import get_visible_record_or_404, read_image_or_404
from api.storage import BlobStore
from ml.decode import decode_image
from ml.explain import HeatmapCheck, check_heatmap, render_overlay
from ml.inference import Classifier, Explanation

HeatmapFormat = Literal["overlay", "raw"]


def explain_record(
    session: Session,
    actor: Actor,
    blob_store: BlobStore,
    classifier: Classifier,
    record_id: int,
    max_pixels: int,
) -> tuple[Record, np.ndarray, Explanation]:
    """The record, its decoded pixels, and the serving model's explanation of them."""
    record = get_visible_record_or_404(session, actor, record_id)
    stored = read_image_or_404(blob_store, record)
    pixels = decode_image(stored, max_pixels=max_pixels).pixels
    return record, pixels, classifier.explain(pixels)


def judge_explanation(record: Record, pixels: np.ndarray, explanation: Explanation) -> HeatmapCheck:
    """The map's plausibility verdict. A record with no tumour answer gets no pass, wherever
    its map lies: the map of a photo or a CT slice shows where the model looked, not why a
    finding holds, and "plausible" beside it would lend it a trust it has not earned."""
    check = check_heatmap(pixels, explanation.heatmap)
    if has_tumour_answer(record.suitability):
        return check
    return HeatmapCheck(
        check.mass_inside_brain,
        True,
        "No verdict: the image was not read for tumours, so its map explains no finding.",
    )


def heatmap_png(
    pixels: np.ndarray, heatmap: np.ndarray, format: HeatmapFormat, opacity: float
) -> bytes:
    """`overlay`: the slice in grey with the map in colour; `raw`: the map as 16-bit grey."""
    if format == "raw":
        raw = np.rint(np.clip(heatmap, 0.0, 1.0) * 65535).astype(np.uint16)
        return encode_png(raw)
    overlay = render_overlay(pixels, heatmap, opacity)
    return encode_png(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
