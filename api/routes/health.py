"""Probes and monitoring: liveness and readiness (no key), Prometheus metrics (admin key)."""

from http import HTTPStatus
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ClassifierDep, MetricsDep, SessionDep, require_roles
from api.errors import problem_responses
from api.models import Role

router = APIRouter(tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "model_version": "0.1.0", "database": "ok"}]
        }
    )

    status: Literal["ready"] = "ready"
    model_version: str
    database: Literal["ok"] = "ok"


@router.get("/healthz", summary="Liveness check")
async def read_health() -> HealthStatus:
    # Answering at all means the lifespan finished, so the model is loaded.
    return HealthStatus()


@router.get(
    "/readyz",
    summary="Readiness check: the model is loaded and the database answers",
    responses=problem_responses(503),
)
def read_readiness(session: SessionDep, classifier: ClassifierDep) -> ReadinessStatus:
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        raise HTTPException(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "The database does not answer. Check that it is running and that "
            "MEDIMG_DATABASE_URL points to it.",
            headers={"Retry-After": "5"},
        ) from None
    return ReadinessStatus(model_version=classifier.version)


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin key)",
    description=(
        "Needs an admin key; Prometheus sends it as a bearer token (`authorization: {type: "
        "Bearer, credentials_file: …}` in the scrape config)."
    ),
    response_class=Response,
    dependencies=[Depends(require_roles(Role.ADMIN))],
    responses={
        HTTPStatus.OK: {
            "description": "Request counts and latency per route, inference time, queue depth.",
            "content": {
                CONTENT_TYPE_LATEST: {
                    "example": 'medimg_http_requests_total{method="GET",route="/records",'
                    'status="200"} 3.0\n'
                }
            },
        },
        **problem_responses(401, 403),
    },
)
async def read_metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
