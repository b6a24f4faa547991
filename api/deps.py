"""The only way routes reach shared resources: `Annotated` dependencies.

Each resource is created once (in `create_app` or the lifespan) and kept on `app.state`;
tests swap any of them with `app.dependency_overrides`.
"""

from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api.db import get_session
from api.jobs import JobQueue
from api.key_cache import VerifiedKeys
from api.metrics import Metrics
from api.models import Role
from api.security import Actor, find_active_key, hash_key
from api.services.similar import SimilarCaseIndex
from api.settings import Settings
from api.storage import BlobStore
from ml.inference import Classifier

# The dependencies that only read app.state are `async def`: FastAPI runs a plain `def`
# dependency on the thread pool, and each such hop costs a thread switch per request.


def app_settings(request: Request) -> Settings:
    # The app's own settings, not get_settings(): create_app may have been given others.
    return request.app.state.settings


async def get_app_settings(request: Request) -> Settings:
    return app_settings(request)


async def get_classifier(request: Request) -> Classifier:
    classifier = getattr(request.app.state, "classifier", None)
    if classifier is None:
        raise HTTPException(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "The model is not loaded yet. Retry in a few seconds.",
            headers={"Retry-After": "5"},
        )
    return classifier


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_blob_store(request: Request) -> BlobStore:
    return request.app.state.blob_store


async def get_job_queue(request: Request) -> JobQueue:
    return request.app.state.jobs


async def get_verified_keys(request: Request) -> VerifiedKeys:
    return request.app.state.verified_keys


async def get_similar_index(request: Request) -> SimilarCaseIndex:
    return request.app.state.similar_index


# auto_error=False: a missing key must get our problem+json 401, not FastAPI's own 403.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer <key>`. Admins issue them (POST /keys).",
)


async def get_actor(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Actor:
    """The caller, from its API key; 401 without a valid, unrevoked one.

    `async`: a key verified in the last few seconds is known without the database, and
    only a lookup goes to the thread pool. An upload route has verified it already, before
    its body was read (authenticate_before_body); it is not checked or counted twice.
    """
    actor = getattr(request.state, "actor", None)
    if actor is None:
        actor = await _verified_actor(request, credentials, partial(_look_up_actor, session))
    return actor


async def authenticate_before_body(request: Request) -> Actor:
    """The caller of an upload, verified before any capacity is spent on its request.

    Runs before FastAPI reads the body (and so before its dependencies, a session among
    them): the lookup uses a session of its own on the app's engine."""
    credentials = await bearer_scheme(request)

    def look_up(key_hash: str) -> Actor:
        with Session(request.app.state.engine) as session:
            return _look_up_actor(session, key_hash)

    return await _verified_actor(request, credentials, look_up)


async def _verified_actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    look_up: Callable[[str], Actor],
) -> Actor:
    if credentials is None:
        raise unauthorized(
            "This request needs an API key: send `Authorization: Bearer <key>`. "
            "Ask an admin for one (POST /keys or `python -m api.keys create`)."
        )
    key_hash = hash_key(credentials.credentials)
    verified_keys: VerifiedKeys[Actor] = request.app.state.verified_keys
    actor = verified_keys.get(key_hash)
    if actor is None:
        actor = await run_in_threadpool(look_up, key_hash)
        verified_keys.remember(key_hash, actor)
    # Kept for the audit trail, which is written after the route has answered.
    request.state.actor = actor
    # After authentication, so the limit is the key's own: one flooding key cannot starve
    # another; counted before any work is done.
    request.app.state.rate_limiter.check(actor.key_id)
    return actor


def _look_up_actor(session: Session, key_hash: str) -> Actor:
    api_key = find_active_key(session, key_hash)
    if api_key is None:
        raise unauthorized(
            "The API key was not recognised or has been revoked. "
            "Check it, or ask an admin for a new one."
        )
    actor = Actor(key_id=api_key.id, name=api_key.name, role=Role(api_key.role))
    # Ends the lookup's transaction, so its pooled connection goes back now rather than after
    # the upload is decoded and classified: with many uploads in flight, PostgreSQL's pool
    # ran dry and requests failed with a pool timeout (500).
    session.commit()
    return actor


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(HTTPStatus.UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def require_roles(*roles: Role) -> Callable[[Actor], Actor]:
    """A dependency that lets only keys with one of `roles` through (403 otherwise)."""
    allowed = ", ".join(roles)

    def check_role(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
        if actor.role not in roles:
            raise HTTPException(
                HTTPStatus.FORBIDDEN,
                f"A {actor.role} key may not do this; it needs a key with the role {allowed}.",
            )
        return actor

    return check_role


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
ActorDep = Annotated[Actor, Depends(get_actor)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
VerifiedKeysDep = Annotated[VerifiedKeys, Depends(get_verified_keys)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
SimilarIndexDep = Annotated[SimilarCaseIndex, Depends(get_similar_index)]
