"""`Idempotency-Key` for POST /classify and /classify/batch: a retry replays the first answer.

A key is remembered in the same transaction as the records it produced, so either both are
stored or neither is. Only successful answers are remembered: a refused upload made
nothing, and retrying it simply runs it again.
"""

import hashlib
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session, select

from api.deps import Actor
from api.models import IdempotencyKey

REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description=(
            "Any unique value (e.g. a UUID) chosen by the client. A retry with the same key "
            "and the same request returns the first answer (header `Idempotent-Replayed: "
            "true`) instead of creating another record; the same key with a different "
            "request gets 422."
        ),
        examples=["6f1c2b3e-8d4a-4f7e-9a0b-1c2d3e4f5a6b"],
    ),
]


def replayed_header_doc(status_code: int) -> dict[int, dict[str, Any]]:
    """OpenAPI: the success answer may carry `Idempotent-Replayed`."""
    header = {
        "description": "`true` when this is the stored answer to an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    }
    return {status_code: {"headers": {REPLAYED_HEADER: header}}}


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    caller_key_id: int
    request_sha256: str


def idempotent_request(
    key: str | None, actor: Actor, path: str, fields: dict[str, str | None], files: list[Any]
) -> IdempotentRequest | None:
    """None without an Idempotency-Key; only with one is the request hashed."""
    if key is None:
        return None
    fingerprint = request_fingerprint(path, fields, files)
    return IdempotentRequest(key=key, caller_key_id=actor.key_id or 0, request_sha256=fingerprint)


def request_fingerprint(path: str, fields: dict[str, str | None], files: list[Any]) -> str:
    """SHA-256 over what makes two requests "the same": path, form fields, file names and bytes."""
    described = {
        "path": path,
        "fields": fields,
        "files": [[name, hashlib.sha256(data).hexdigest()] for name, data in files],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def find_replay(session: Session, request: IdempotentRequest | None) -> JSONResponse | None:
    """The stored answer for this key, or None; 422 when the key was used for another request."""
    if request is None:
        return None
    stored = session.exec(
        select(IdempotencyKey).where(
            IdempotencyKey.caller_key_id == request.caller_key_id,
            IdempotencyKey.key == request.key,
        )
    ).first()
    if stored is None:
        return None
    if stored.request_sha256 != request.request_sha256:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "This Idempotency-Key was already used for a different request. "
            "Send a new key for a new upload; reuse a key only to retry the same request.",
        )
    return JSONResponse(
        stored.response, status_code=stored.status_code, headers={REPLAYED_HEADER: "true"}
    )


def remember(
    session: Session,
    request: IdempotentRequest | None,
    *,
    status_code: int,
    answer: BaseModel,
    record_id: int | None = None,
) -> None:
    """Add the answer to the session; the caller's commit stores it with its records.

    Without a key there is nothing to remember, and the answer is not even serialised."""
    if request is None:
        return
    session.add(
        IdempotencyKey(
            key=request.key,
            caller_key_id=request.caller_key_id,
            request_sha256=request.request_sha256,
            record_id=record_id,
            status_code=status_code,
            response=answer.model_dump(mode="json"),
        )
    )
