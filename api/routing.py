"""What several routers share: the record-id path parameter, the answer that sends stored
bytes, and the route class that bounds an upload before it is read."""

import asyncio
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive

from api.deps import app_settings, authenticate_before_body, get_actor
from api.errors import problem_responses
from api.security import Actor
from api.services.ingest import upload_too_large
from api.settings import Settings

# The largest id a database integer column holds: a larger one is refused (422), not sent to
# the database driver, which cannot convert it.
MAX_RECORD_ID = 2**63 - 1
RecordId = Annotated[
    int, Path(le=MAX_RECORD_ID, description="Record id, as returned by POST /classify.")
]


def explanations_router() -> APIRouter:
    """A router of the explanations' tag (heatmaps, similar cases: how a reader checks a
    result), for any signed-in role, taking uploads within the size limit."""
    return APIRouter(
        tags=["explanations"],
        route_class=UploadSizeLimitedRoute,
        dependencies=[Depends(get_actor)],
        responses=problem_responses(401, 403),
    )


def stored_file_response(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=content,
        media_type=media_type,
        headers={
            # The bytes are user uploads: the browser must not guess another type (e.g. HTML).
            "X-Content-Type-Options": "nosniff",
            # Our own name, never the uploaded one, so no header injection through it.
            "Content-Disposition": f'inline; filename="{filename}"',
        },
    )


# Room for the multipart boundary and part headers around the files themselves.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadSizeLimitedRoute(APIRoute):
    """Refuses an oversized request body before and while it streams in, and a request past
    the admission bound (`MEDIMG_MAX_CLASSIFICATIONS_IN_PROGRESS`) before reading it at all.

    FastAPI parses (and spools to disk) the whole multipart body before the route runs, so
    without this a huge upload would fill the disk before `read_upload_within_limit` saw it.
    Errors raised here go through the app's problem+json handlers, unlike Starlette's own
    body limit, which answers a too-large Content-Length in text/plain.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_within_limit(request: Request) -> Response:
            # Runs before FastAPI's dependency injection, which needs the body parsed.
            settings = app_settings(request)
            max_body_bytes = settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
            if _declared_content_length(request) > max_body_bytes:
                raise upload_too_large(settings.max_upload_bytes)
            # The key first: an anonymous sender gets its 401 without taking a slot.
            actor = await authenticate_before_unread_body(request)
            receive = _receive_at_most(request.receive, max_body_bytes, settings)
            callers = (("key", actor.key_id), ("address", _client_address(request)))
            with ExitStack() as slot:
                try:  # 503 at once when at capacity
                    slot.enter_context(request.app.state.admission.admit(*callers))
                except HTTPException:
                    # Counted in /metrics, not audited: under a flood, a durable row for
                    # each refusal would slow the refusals themselves (api/audit.py).
                    request.state.refused_at_capacity = True
                    raise
                return await handle(Request(request.scope, receive))

        return handle_within_limit


async def authenticate_before_unread_body(request: Request) -> Actor:
    """The caller, or its 401 with the connection closed: the body is never read, and a
    kept-alive connection would wait for all of it, however slowly it trickles in."""
    try:
        return await authenticate_before_body(request)
    except HTTPException as refusal:
        headers = {**(refusal.headers or {}), "Connection": "close"}
        raise HTTPException(refusal.status_code, refusal.detail, headers) from refusal


def _declared_content_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", 0))
    except ValueError:
        return 0  # unparseable: the streaming count below still applies


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _receive_at_most(receive: Receive, max_body_bytes: int, settings: Settings) -> Receive:
    """Counts body bytes as they arrive (chunked uploads declare no length), and refuses a
    body that stalls or trickles (408): a slow sender must not hold an admission slot for
    as long as it likes, and h11 itself sets no limit on the time a body may take."""
    received = 0
    started = time.monotonic()
    idle_timeout = settings.upload_idle_timeout_s

    async def receive_within_limit() -> Message:
        nonlocal received
        try:
            message = await asyncio.wait_for(receive(), idle_timeout)
        except TimeoutError:
            raise upload_too_slow(f"no part of it arrived for {idle_timeout:g} s") from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body_bytes:
                raise upload_too_large(settings.max_upload_bytes)
            _check_rate(received, time.monotonic() - started, settings)
        return message

    return receive_within_limit


def _check_rate(received: int, elapsed_s: float, settings: Settings) -> None:
    # Judged only after the idle timeout has passed: a short upload's first moments say little.
    if elapsed_s > settings.upload_idle_timeout_s:
        rate = received / elapsed_s
        if rate < settings.upload_min_bytes_per_s:
            raise upload_too_slow(
                f"it arrived at {rate:,.0f} bytes/s, below the "
                f"{settings.upload_min_bytes_per_s:,} bytes/s required"
            )


def upload_too_slow(why: str) -> HTTPException:
    return HTTPException(
        HTTPStatus.REQUEST_TIMEOUT,
        f"The upload was too slow: {why}. Send it again over a faster connection.",
        headers={"Connection": "close"},
    )
