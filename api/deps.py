"""The only way routes reach shared resources: `Annotated` dependencies.

Each resource is created once (in `create_app` or the lifespan) and kept on `app.state`;
tests swap any of them with `app.dependency_overrides`.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.db import get_session
from api.settings import Settings
from api.storage import BlobStore
from ml.inference import Classifier


def get_app_settings(request: Request) -> Settings:
    # The app's own settings, not get_settings(): create_app may have been given others.
    return request.app.state.settings


def get_classifier(request: Request) -> Classifier:
    return request.app.state.classifier


def get_blob_store(request: Request) -> BlobStore:
    return request.app.state.blob_store


@dataclass(frozen=True)
class Actor:
    """Who is calling: the API key's id, name and role."""

    key_id: int | None
    name: str
    role: str


def get_actor(request: Request) -> Actor:
    # Seam for authentication: the access work replaces this with the caller's API key.
    return getattr(request.state, "actor", Actor(key_id=None, name="local", role="admin"))


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
BlobStoreDep = Annotated[BlobStore, Depends(get_blob_store)]
ActorDep = Annotated[Actor, Depends(get_actor)]
