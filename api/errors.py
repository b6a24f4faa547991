"""Every error leaves the API as `application/problem+json` (RFC 9457).

One handler set, so clients parse a single shape: `type`, `title`, `status`, `detail`,
`instance`, plus `errors` for request validation failures.
"""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.admission import at_capacity
from ml.pixels import DecodeMemoryBusyError

PROBLEM_MEDIA_TYPE = "application/problem+json"
# RFC 9457 §4.2.1: "about:blank" means the HTTP status code says it all.
BLANK_PROBLEM_TYPE = "about:blank"
# Only what the client can act on; `input` could echo a whole upload back.
PUBLIC_VALIDATION_ERROR_KEYS = ("type", "loc", "msg")

logger = logging.getLogger(__name__)


class Problem(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": BLANK_PROBLEM_TYPE,
                    "title": "Not Found",
                    "status": 404,
                    "detail": "Record 42 does not exist.",
                    "instance": "/records/42",
                }
            ]
        }
    )

    type: str = Field(default=BLANK_PROBLEM_TYPE, description="URI identifying the problem.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str = Field(description="What went wrong with this request, and what to do.")
    instance: str = Field(description="Path of the request that failed.")


class ValidationProblem(Problem):
    # Absent when the request was well-formed but what it carried was refused (e.g. an
    # undecodable image): the 422s raised as HTTPException have only `detail`.
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="Each invalid part of the request."
    )


_PROBLEM_DESCRIPTIONS = {
    400: "The request body could not be read (not JSON, or not multipart).",
    404: "The resource does not exist.",
    408: "The upload stalled or arrived too slowly; send it again.",
    413: "The upload or the image is too large.",
    415: "The file is not a PNG, JPEG or DICOM image.",
    422: "The request or the image is not valid.",
    429: "Too many requests with this key; wait for the Retry-After seconds.",
    503: "Busy or not ready yet; retry, after the Retry-After seconds when given.",
}


def problem_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for a route's problem statuses."""
    return {
        code: {
            "model": ValidationProblem if code == 422 else Problem,
            "description": _PROBLEM_DESCRIPTIONS.get(code, HTTPStatus(code).phrase),
        }
        for code in status_codes
    }


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(DecodeMemoryBusyError, _handle_decode_memory_busy)
    app.add_exception_handler(Exception, _handle_unexpected_error)
    _document_errors_as_problem_json(app)


def problem_response(
    request: Request,
    status_code: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    problem = Problem(
        title=HTTPStatus(status_code).phrase,
        status=status_code,
        detail=detail,
        instance=request.url.path,
    )
    return JSONResponse(
        {**problem.model_dump(), **extra},
        status_code=status_code,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _handle_http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    # Keep the exception's headers: e.g. 405 must say which methods are allowed.
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


async def _handle_validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {key: error[key] for key in PUBLIC_VALIDATION_ERROR_KEYS if key in error}
        for error in exc.errors()
    ]
    return problem_response(
        request,
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "The request is not valid; see `errors` for each part to fix.",
        errors=jsonable_encoder(errors),
    )


async def _handle_decode_memory_busy(request: Request, exc: DecodeMemoryBusyError) -> Response:
    # A stored image decoded for a view (PNG, heatmap, similar…) while decode memory is full.
    return await _handle_http_exception(request, at_capacity(str(exc)))


async def _handle_unexpected_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "The server hit an unexpected error. Try again; if it persists, tell the operator.",
    )


class UnexpectedErrorMiddleware:
    """Answers an unhandled exception with the 500 problem here, inside the other middleware.

    Left to Starlette's outermost ServerErrorMiddleware, the exception is re-raised after
    the answer, and the server then closes the kept-alive connection: one failing request
    would cost a hospital's client its connection (#29). Answered here, no exception leaves
    the app, and audit, CORS and metrics see the 500 as they see any other answer. An
    exception after the answer began (a background task) still goes up, as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answered = False

        async def send_and_note(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as exc:
            if answered:
                raise
            response = await _handle_unexpected_error(Request(scope), exc)
            await response(scope, receive, send)


def _document_errors_as_problem_json(app: FastAPI) -> None:
    """Make /docs show error bodies under `application/problem+json`, as they are sent.

    FastAPI files every `responses=` model under the route's own media type
    (`application/json`), so move the 4xx/5xx ones after the schema is generated.
    """
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate_openapi()  # cached by FastAPI after the first call
        for operation in _operations(schema):
            for status_code, response in operation.get("responses", {}).items():
                _move_json_content_to_problem_json(status_code, response)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path in schema.get("paths", {}).values() for operation in path.values()]


def _move_json_content_to_problem_json(status_code: str, response: dict[str, Any]) -> None:
    content = response.get("content", {})
    if status_code[:1] in ("4", "5") and "application/json" in content:
        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
