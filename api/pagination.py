"""Opaque cursors for keyset pagination on (created_at, id).

A cursor names the last item of a page and the order it was read in; the next page starts
strictly after it, so rows inserted meanwhile neither shift nor repeat what follows.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Literal

from fastapi import HTTPException
from sqlmodel import Session, SQLModel, col, func, select

from api.values import MAX_INT64, in_utc

SortOrder = Literal["newest", "oldest"]
# Ids beyond a 64-bit integer would overflow the database driver instead of matching nothing.
MAX_ID = MAX_INT64


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int
    sort: SortOrder


def encode_cursor(cursor: Cursor) -> str:
    payload = {"t": cursor.created_at.isoformat(), "i": cursor.id, "s": cursor.sort}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, sort: SortOrder) -> Cursor:
    """The cursor a previous page handed out; 422 for anything else."""
    cursor = _parse(token)
    if cursor is None:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "The cursor is not one this API issued. Pass `next_cursor` from the previous "
            "page unchanged, or leave `cursor` out to start from the first page.",
        )
    if cursor.sort != sort:
        raise HTTPException(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"The cursor belongs to a list sorted `{cursor.sort}`, not `{sort}`. Keep the "
            "same `sort` while paging, or leave `cursor` out to start again.",
        )
    return cursor


def _parse(token: str) -> Cursor | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        created_at = datetime.fromisoformat(payload["t"])
        record_id = payload["i"]
        sort = payload["s"]
        if created_at.tzinfo is not None:
            created_at = in_utc(created_at)  # compared with stored UTC times
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    valid = (
        created_at.tzinfo is not None
        # JSON's true is a Python int (a bool) too: only a real integer is an id.
        and type(record_id) is int
        and 0 <= record_id <= MAX_ID
        and sort in ("newest", "oldest")
    )
    return Cursor(created_at, record_id, sort) if valid else None


def newest_first_page(session: Session, table: type[SQLModel], offset: int, limit: int):
    """One offset page of a table with an integer id, newest first, and its total count."""
    count = session.exec(select(func.count()).select_from(table)).one()
    rows = session.exec(select(table).order_by(col(table.id).desc()).offset(offset).limit(limit))
    return list(rows), count
