"""The audit trail, for admins: every request to a route that needs a key, newest first."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep, require_roles
from api.errors import problem_responses
from api.models import AuditEvent, AuditEventsPublic, Role
from api.pagination import newest_first_page
from api.values import MAX_INT64

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50

router = APIRouter(
    prefix="/audit",
    tags=["access"],
    dependencies=[Depends(require_roles(Role.ADMIN))],
    responses=problem_responses(401, 403),
)


@router.get(
    "",
    response_model=AuditEventsPublic,
    summary="List audit events, newest first",
    responses=problem_responses(422),
)
def read_audit_events(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64, description="Events to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Events per page.")
    ] = DEFAULT_PAGE_SIZE,
) -> Any:
    events, count = newest_first_page(session, AuditEvent, offset, limit)
    return AuditEventsPublic(data=events, count=count)
