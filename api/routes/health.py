from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/healthz", summary="Liveness check")
async def read_health() -> HealthStatus:
    # Answering at all means the lifespan finished, so the model is loaded.
    return HealthStatus()
