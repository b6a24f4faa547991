"""The audit trail: one append-only row per request to a route that needs an API key.

Written by an ASGI middleware, so refusals (401, 403, 404, 422…) are recorded exactly like
successes, whichever part of the app produced them. The row is stored before the answer
leaves, so a client never sees a response whose audit row is missing. A route that commits
a transaction of its own may add its row to it (`add_audit_event`, then `mark_audited` once
committed): one commit instead of two, and the middleware writes no second row for that
outcome.

A row holds who (key id, name, role), what (the route's handler name, and the record id in
the path or the record a classification created), the outcome status and the client
address: never image bytes, file names or query strings. Two exceptions, so that no flood
costs unbounded storage: a classification refused at capacity (503) before its key was read
is only counted in /metrics; and of the requests that name no valid key (401), one row is
kept per client address per minute, for at most MAX_ANONYMOUS_ADDRESSES_PER_WINDOW addresses
a minute; the others are counted in /metrics (`medimg_audit_anonymous_refusals_unrecorded`).
"""

import time
from collections.abc import Callable
from http import HTTPStatus

import anyio
import anyio.to_thread
from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Actor, get_actor
from api.models import AuditEvent

# Audit writes have their own threads: under overload every request thread may be busy
# classifying, and a refusal (503) must not wait for one of them before it can be answered.
AUDIT_WRITER_THREADS = 4
# Requests without a valid key: one row per address per window, for this many addresses.
ANONYMOUS_WINDOW_S = 60
MAX_ANONYMOUS_ADDRESSES_PER_WINDOW = 1000


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_changing_audit_events(_mapper, _connection, target: AuditEvent) -> None:
    # The app only ever adds audit rows; a change would make the trail worthless.
    raise AppendOnlyError(f"audit event {target.id} is append-only")


class AnonymousRefusals:
    """Which client addresses already have a row for a keyless request in this window.

    An unauthenticated flood then costs at most `max_addresses` rows a window, however fast
    it comes; the trail still says who knocked, from where, and on which route first. Used
    from the event loop only."""

    def __init__(
        self,
        window_s: float = ANONYMOUS_WINDOW_S,
        max_addresses: int = MAX_ANONYMOUS_ADDRESSES_PER_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window_s = window_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._window: int | None = None
        self._recorded: set[str | None] = set()

    def first_in_window(self, address: str | None) -> bool:
        window = int(self._clock() // self.window_s)
        if window != self._window:
            self._window = window
            self._recorded.clear()
        if address in self._recorded or len(self._recorded) >= self.max_addresses:
            return False
        self._recorded.add(address)
        return True


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._audited_routes: dict[int, bool] = {}
        self._writers: anyio.CapacityLimiter | None = None
        self.anonymous = AnonymousRefusals()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # An unexpected error arrives here as a 500 answer too (api.errors'
        # UnexpectedErrorMiddleware runs inside this one), so every outcome is a response.
        async def send_after_auditing(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._record(scope, message["status"])
            await send(message)

        await self.app(scope, receive, send_after_auditing)

    async def _record(self, scope: Scope, status_code: int) -> None:
        route = scope.get("route")
        if not isinstance(route, APIRoute) or not self._needs_key(route):
            return
        if _audited_status(scope) == status_code:
            return  # the route committed this row with its own writes
        if status_code == HTTPStatus.SERVICE_UNAVAILABLE and _refused_at_capacity(scope):
            # Refused at capacity before the body was read: it touched nothing, and under a
            # flood a durable row for each would slow the refusals themselves. /metrics
            # counts them.
            return
        audit_event = build_audit_event(scope, route, status_code)
        if audit_event.key_id is None and not self.anonymous.first_in_window(
            audit_event.client_address
        ):
            scope["app"].state.metrics.anonymous_refusals_unrecorded.inc()
            return
        engine: Engine = scope["app"].state.engine
        if self._writers is None:  # made on first use, inside the running event loop
            self._writers = anyio.CapacityLimiter(AUDIT_WRITER_THREADS)
        await anyio.to_thread.run_sync(
            store_audit_event, engine, audit_event, limiter=self._writers
        )

    def _needs_key(self, route: APIRoute) -> bool:
        if id(route) not in self._audited_routes:
            self._audited_routes[id(route)] = depends_on(route.dependant, get_actor)
        return self._audited_routes[id(route)]


def depends_on(dependant: Dependant, call: object) -> bool:
    return any(sub.call is call or depends_on(sub, call) for sub in dependant.dependencies)


def build_audit_event(scope: Scope, route: APIRoute, status_code: int) -> AuditEvent:
    actor = _caller(scope)
    client = scope.get("client")
    return AuditEvent(
        key_id=actor.key_id if actor else None,
        key_name=actor.name if actor else None,
        key_role=actor.role if actor else None,
        action=route.name,
        record_id=_record_id(scope),
        status_code=status_code,
        client_address=client[0] if client else None,
    )


def add_audit_event(
    session: Session, request: Request, status_code: int, record_id: int | None = None
) -> None:
    """Add this request's audit row to the session's transaction, as the answer will be
    `status_code`; call `mark_audited` once that transaction has committed. `record_id`:
    the record the request created, where the path names none."""
    audit_event = build_audit_event(request.scope, request.scope["route"], status_code)
    audit_event.record_id = audit_event.record_id or record_id
    session.add(audit_event)


def mark_audited(request: Request, status_code: int) -> None:
    # Only after the commit: a rolled-back row must still be written by the middleware. An
    # answer that ends up different (a failure while responding) gets a row of its own.
    request.state.audited_status = status_code


def _audited_status(scope: Scope) -> int | None:
    return scope.get("state", {}).get("audited_status")


def _refused_at_capacity(scope: Scope) -> bool:
    # Or refused before the key was even read (the model's queue, full): it names nobody.
    state = scope.get("state", {})
    return bool(state.get("refused_at_capacity")) or _caller(scope) is None


def _caller(scope: Scope) -> Actor | None:
    return scope.get("state", {}).get("actor")


def _record_id(scope: Scope) -> int | None:
    value = str(scope.get("path_params", {}).get("record_id", ""))
    # A malformed id (answered with 422) is not worth keeping: it names no record.
    return int(value) if value.isdigit() and len(value) < 19 else None


def store_audit_event(engine: Engine, audit_event: AuditEvent) -> None:
    # One plain INSERT: every request pays for this row before its answer leaves, and an ORM
    # session's unit of work costs more than the statement itself.
    row = audit_event.model_dump(exclude={"id"})
    with engine.begin() as connection:
        connection.execute(insert(AuditEvent).values(**row))
