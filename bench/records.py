"""GET /records with 100,000 records: filtered pages through HTTP, and the query plans that
show the indexes doing the work (SQLite's EXPLAIN QUERY PLAN of the route's own SQL)."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, insert, text
from sqlalchemy.engine import Engine
from sqlmodel import select

from api.deps import Actor
from api.models import Record, ReviewStatus, Role
from api.services.records import RecordQuery, filter_conditions, page_statement, visible_to
from ml.finding import Finding
from ml.labels import BRAIN_MRI, CLASSES, KIND_NAMES, KINDS

RECORDS = 100_000
INSERT_CHUNK = 10_000
PAGE = 50
RUNS_PER_QUERY = 100
SOURCES = ("pacs-west", "pacs-east", "ris", None)
BRAIN_MRI_SHARE = 0.9
OTHER_KINDS = [kind for kind in KIND_NAMES if kind != BRAIN_MRI]
# Each query as the SPA sends it: the HTTP query string and the route's RecordQuery.
QUERIES = {
    "newest page, no filter": {},
    "label=glioma": {"label": "glioma"},
    "finding=tumour_suspected": {"finding": "tumour_suspected"},
    "modality=CT": {"modality": "CT"},
    "review_status=confirmed": {"review_status": "confirmed"},
    "source_system=ris, last 30 days": {"source_system": "ris", "created_from": "LAST_30_DAYS"},
}


@dataclass(frozen=True)
class QueryTiming:
    name: str
    p50_ms: float
    p95_ms: float
    plan: list[str]


def add_records(engine: Engine, count: int = RECORDS, seed: int = 0) -> None:
    """`count` records over the last 365 days, labels and review states mixed."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for start in range(0, count, INSERT_CHUNK):
            size = min(INSERT_CHUNK, count - start)
            connection.execute(insert(Record), [_random_record(rng, now) for _ in range(size)])


def _random_record(rng: random.Random, now: datetime) -> dict[str, object]:
    label = rng.choice(CLASSES)
    # Most uploads are brain MRI; the rest are refused as what the recogniser says they are.
    kind = BRAIN_MRI if rng.random() < BRAIN_MRI_SHARE else rng.choice(OTHER_KINDS)
    modality, body_part = KINDS[kind]
    return {
        "finding": rng.choice(list(Finding)).value,
        "tumour_probability": rng.random(),
        "label": label,
        "probabilities": {name: 0.97 if name == label else 0.01 for name in CLASSES},
        "model_version": "0.1.0",
        "media_type": "image/jpeg",
        "image_sha256": f"{rng.getrandbits(256):064x}",
        "width": 512,
        "height": 512,
        "source_system": rng.choice(SOURCES),
        "created_at": now - timedelta(seconds=rng.uniform(0, 365 * 86400)),
        "review_status": rng.choice(list(ReviewStatus)).value,
        "suitability": "ok" if kind == BRAIN_MRI else "out_of_distribution",
        "modality": modality,
        "body_part": body_part,
        "kind": kind,
        "kind_probability": rng.uniform(0.5, 1.0),
    }


def _params(raw: dict[str, str]) -> dict[str, str]:
    last_30 = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    return {name: last_30 if value == "LAST_30_DAYS" else value for name, value in raw.items()}


def query_plans(engine: Engine, params: dict[str, str]) -> list[str]:
    """SQLite's plan of the count and the page statement the route runs for `params`."""
    admin = Actor(key_id=None, name="bench", role=Role.ADMIN)
    query = RecordQuery(limit=PAGE, **params)
    conditions = [visible_to(admin), *filter_conditions(query)]
    statements = {
        "count": select(func.count()).select_from(Record).where(*conditions),
        "page": page_statement(conditions, query),
    }
    plans = []
    with engine.connect() as connection:
        for name, statement in statements.items():
            sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
            rows = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
            plans.extend(f"{name}: {row[-1]}" for row in rows)
    return plans


def time_queries(base_url: str, key: str, engine: Engine) -> list[QueryTiming]:
    timings = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        for name, raw in QUERIES.items():
            params = {**_params(raw), "limit": str(PAGE)}
            seconds = []
            for _ in range(RUNS_PER_QUERY):
                started = time.perf_counter()
                http.get("/records", params=params).raise_for_status()
                seconds.append(time.perf_counter() - started)
            quantiles = statistics.quantiles(seconds, n=100, method="inclusive")
            plan = query_plans(engine, _params(raw))
            timings.append(QueryTiming(name, 1000 * quantiles[49], 1000 * quantiles[94], plan))
    return timings
