"""The comparison only, never served: a minimal classifier API as typical open-source ones
are written, with the same model. Per request: decode, resize, `model.predict` on one image,
inside an `async def` route. No database, no stored image, no authentication.

    BENCH_MODEL_DIR=models/brain-tumor-cnn/0.12.0 \\
        uvicorn --factory bench.baseline_app:create_app --port 8001
"""

from __future__ import annotations

import os
from typing import Annotated

import cv2
import keras
import numpy as np
from fastapi import FastAPI, File, UploadFile

INPUT_SIDE = 128


def load_model(model_dir: str) -> keras.Model:
    # A SavedModel inside a Keras model, as tutorials do, so `model.predict` is available.
    layer = keras.layers.TFSMLayer(model_dir, call_endpoint="serving_default")
    inputs = keras.Input((INPUT_SIDE, INPUT_SIDE, 1), dtype="uint8")
    return keras.Model(inputs, layer(inputs)["probabilities"])


def create_app() -> FastAPI:
    model = load_model(os.environ["BENCH_MODEL_DIR"])
    app = FastAPI(title="baseline classifier (benchmark comparison only)")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/classify")
    async def classify(file: Annotated[UploadFile, File()]) -> dict[str, object]:
        data = await file.read()
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        resized = cv2.resize(pixels, (INPUT_SIDE, INPUT_SIDE))
        probabilities = model.predict(resized[np.newaxis, :, :, np.newaxis], verbose=0)[0]
        return {"class": int(np.argmax(probabilities)), "probabilities": probabilities.tolist()}

    return app
