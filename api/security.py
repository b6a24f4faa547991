"""API keys: made with `secrets`, stored only as their SHA-256, looked up by that hash.

A key is shown once, when it is created; afterwards only its short prefix identifies it.
Used by the API (authentication, `/keys`) and by the `python -m api.keys` CLI, so nothing
here may import TensorFlow (api.deps does).
"""

import hashlib
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from api.models import ApiKey, Role, utc_now

KEY_MARKER = "mdk_"  # makes a leaked key recognisable to secret scanners and people
KEY_RANDOM_BYTES = 32  # 256 bits: unguessable, so a fast hash is enough to store it
PREFIX_LENGTH = len(KEY_MARKER) + 4
BOOTSTRAP_ADMIN_NAME = "bootstrap-admin"
BOOTSTRAP_IGNORED = (
    "MEDIMG_BOOTSTRAP_ADMIN_KEY is set but was not made an admin key: the database already "
    "holds {count} API key(s), and it applies only to a database with none. Sign in with an "
    "existing admin key, or create one with `python -m api.keys create --name NAME --role "
    "admin`."
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is calling: the API key's id, name and role."""

    key_id: int | None
    name: str
    role: Role


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: the stored row and the only copy of the key itself."""

    api_key: ApiKey
    key: str


def generate_key() -> str:
    return KEY_MARKER + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, role: Role, key: str | None = None) -> IssuedKey:
    """Store a new key (a fresh random one unless `key` is given) and commit."""
    key = key or generate_key()
    api_key = ApiKey(name=name, role=role, key_hash=hash_key(key), prefix=key[:PREFIX_LENGTH])
    session.add(api_key)
    session.commit()
    session.refresh(api_key)
    return IssuedKey(api_key=api_key, key=key)


def find_active_key(session: Session, key_hash: str) -> ApiKey | None:
    """The unrevoked key whose hash (`hash_key`) this is, if any."""
    api_key = session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()
    if api_key is None or api_key.revoked_at is not None:
        return None
    return api_key


def revoke_api_key(session: Session, api_key: ApiKey) -> ApiKey:
    """Stop the key working; revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = utc_now()
        session.add(api_key)
        session.commit()
        session.refresh(api_key)
    return api_key


def is_last_active_admin(session: Session, api_key: ApiKey) -> bool:
    if api_key.role != Role.ADMIN or api_key.revoked_at is not None:
        return False
    active_admins = select(func.count()).where(
        ApiKey.role == Role.ADMIN, col(ApiKey.revoked_at).is_(None)
    )
    return session.exec(active_admins).one() == 1


def bootstrap_admin_key(engine: Engine, key: str | None) -> ApiKey | None:
    """Make `key` an admin key if the database has no key at all yet; else do nothing."""
    if not key:
        return None
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(ApiKey)).one()
        if count > 0:
            # Said out loud: automation that set the key would otherwise get 401s, no reason.
            if find_active_key(session, hash_key(key)) is None:
                logger.warning(BOOTSTRAP_IGNORED.format(count=count))
            return None
        try:
            return create_api_key(session, BOOTSTRAP_ADMIN_NAME, Role.ADMIN, key=key).api_key
        except IntegrityError:
            # Another worker starting at the same moment stored it first.
            session.rollback()
            return None
