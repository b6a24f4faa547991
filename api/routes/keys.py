"""API keys, for admins: issue one (shown once), list them, revoke one."""

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from sqlmodel import Session

from api.deps import SessionDep, VerifiedKeysDep, require_roles
from api.errors import problem_responses
from api.models import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic, Role
from api.pagination import newest_first_page
from api.security import create_api_key, is_last_active_admin, revoke_api_key
from api.values import MAX_INT64

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

KeyId = Annotated[int, Path(description="API key id, as returned by POST /keys.")]

router = APIRouter(
    prefix="/keys",
    tags=["keys"],
    dependencies=[Depends(require_roles(Role.ADMIN))],
    responses=problem_responses(401, 403),
)


@router.post(
    "",
    status_code=HTTPStatus.CREATED,
    response_model=ApiKeyCreated,
    summary="Issue an API key (the key is shown only in this answer)",
    responses=problem_responses(400, 422),
)
def create_key(session: SessionDep, key_in: ApiKeyCreate) -> Any:
    issued = create_api_key(session, key_in.name, key_in.role)
    return ApiKeyCreated.model_validate(issued.api_key, update={"key": issued.key})


@router.get(
    "",
    response_model=ApiKeysPublic,
    summary="List API keys, newest first (revoked ones included)",
    responses=problem_responses(422),
)
def read_keys(
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=MAX_INT64, description="Keys to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Keys per page.")
    ] = DEFAULT_PAGE_SIZE,
) -> Any:
    keys, count = newest_first_page(session, ApiKey, offset, limit)
    return ApiKeysPublic(data=keys, count=count)


@router.delete(
    "/{key_id}",
    response_model=ApiKeyPublic,
    summary="Revoke an API key",
    description=(
        "The key is refused from then on by this server, and by other replicas once their "
        "memory of it expires (`MEDIMG_API_KEY_CACHE_SECONDS`, 5 s by default)."
    ),
    responses=problem_responses(404, 409, 422),
)
def delete_key(session: SessionDep, verified_keys: VerifiedKeysDep, key_id: KeyId) -> Any:
    api_key = get_key_or_404(session, key_id)
    if is_last_active_admin(session, api_key):
        raise HTTPException(
            HTTPStatus.CONFLICT,
            f"Key {key_id} is the last active admin key; revoking it would lock every admin "
            "out. Create another admin key first.",
        )
    revoked = revoke_api_key(session, api_key)
    verified_keys.forget(revoked.key_hash)
    return revoked


def get_key_or_404(session: Session, key_id: int) -> ApiKey:
    api_key = session.get(ApiKey, key_id)
    if api_key is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"API key {key_id} does not exist.")
    return api_key
