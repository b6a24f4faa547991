"""What several routers share: the record-id path parameter, the answer that sends stored
bytes, and the route class that bounds an upload before it is read."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Path, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive

from api.deps import app_settings
from api.services.ingest import upload_too_large

# The largest id a database integer column holds: a larger one is refused (422), not sent to
# the database driver, which cannot convert it.
MAX_RECORD_ID = 2**63 - 1
RecordId = Annotated[
    int, Path(le=MAX_RECORD_ID, description="Record id, as returned by POST /classify.")
]


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
            max_upload_bytes = app_settings(request).max_upload_bytes
            max_body_bytes = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
            if _declared_content_length(request) > max_body_bytes:
                raise upload_too_large(max_upload_bytes)
            receive = _receive_at_most(request.receive, max_body_bytes, max_upload_bytes)
            with request.app.state.admission.admit():  # 503 at once when at capacity
                return await handle(Request(request.scope, receive))

        return handle_within_limit


def _declared_content_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", 0))
    except ValueError:
        return 0  # unparseable: the streaming count below still applies


def _receive_at_most(receive: Receive, max_body_bytes: int, max_upload_bytes: int) -> Receive:
    """Counts body bytes as they arrive (chunked uploads declare no length)."""
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body_bytes:
                raise upload_too_large(max_upload_bytes)
        return message

    return receive_within_limit
