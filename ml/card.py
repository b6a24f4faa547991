"""The model card's schema: what every exported model directory says about itself.

ml.artifact.write_card validates every card against it before writing, so a card can not
lose a field that the server, the SPA (GET /models/{version}) or the tests read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class InputSpec(BaseModel):
    signature: str
    tensor: str
    dtype: str
    shape: list[int | None]
    description: str


class FindingThresholdsCard(BaseModel):
    no_tumour_below: float = Field(ge=0, le=1)
    tumour_suspected_from: float = Field(ge=0, le=1)
    label_no_tumor_below: float | None = Field(default=None, ge=0, le=1)


class CalibrationCard(BaseModel):
    method: str
    temperature: float = Field(gt=0)
    bias: list[float]
    kind_temperature: float = Field(gt=0)


class ModelCard(BaseModel):
    """Required of every card; a trained model's card adds its recipe, data hashes and
    figures (config, data, training, evaluation), which a test model has none of."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    classes: list[str]
    kinds: list[str]
    input: InputSpec
    outputs: list[str]
    intended_use: str
    calibration: CalibrationCard
    finding_thresholds: FindingThresholdsCard | None = None
    recogniser: dict | None = None
    config: dict | None = None
    data: dict | None = None
    evaluation: dict = Field(default_factory=dict)
    known_limitations: list[str] = Field(default_factory=list)
