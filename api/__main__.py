"""`python -m api`: run the API with uvicorn on the configured host and port.

Refuses to start bound to a non-loopback address while nobody could sign in: no active API
key in the database and no `MEDIMG_BOOTSTRAP_ADMIN_KEY`. Such a server would be reachable
from the network yet unusable, and a habit of "fixing" that by weakening auth is how open
medical-image servers end up on the internet.
"""

import ipaddress
import os
import sys
from collections.abc import Sequence

import uvicorn
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from api.db import create_db_engine, sqlite_file_path
from api.models import ApiKey
from api.settings import Settings

LOOPBACK_NAMES = {"localhost"}
EXIT_REFUSED = 2


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    settings = settings or Settings()
    if refusal := start_refusal(settings):
        print(f"medimg: refusing to start: {refusal}", file=sys.stderr)
        return EXIT_REFUSED
    skip_keras_when_tensorflow_loads()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
    )
    return 0


def skip_keras_when_tensorflow_loads() -> None:
    """Start-up: `import tensorflow` imports all of Keras 3, and scikit-learn and SciPy with
    it, only to register Keras' optimizers for SavedModels that hold one; about 3 s of the
    server's start on two cores. The server loads its model with tf.saved_model.load and
    never touches tf.keras, so it asks TensorFlow for Keras 2 (the tf_keras package)
    instead: that package is not installed, and TensorFlow then skips the import. Call it
    before TensorFlow is imported; a value the operator set is kept."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def start_refusal(settings: Settings) -> str | None:
    """Why the server must not start with these settings; None when it may."""
    if is_loopback(settings.api_host) or settings.bootstrap_admin_key is not None:
        return None
    if count_active_keys(settings.database_url) > 0:
        return None
    return (
        f"MEDIMG_API_HOST={settings.api_host} is reachable from the network, but the database "
        "has no API key and MEDIMG_BOOTSTRAP_ADMIN_KEY is not set, so nobody could use it. "
        "Create a key first (`python -m api.keys create --name NAME --role admin`), set "
        "MEDIMG_BOOTSTRAP_ADMIN_KEY, or bind to 127.0.0.1."
    )


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name: it may resolve to anything, so not loopback
        return False


def count_active_keys(database_url: str) -> int:
    """Active keys in the database; 0 when it does not exist yet or has no key table."""
    database_file = sqlite_file_path(database_url)
    if database_file is not None and not database_file.exists():
        return 0  # do not create an empty database file just to look into it
    engine = create_db_engine(database_url)
    try:
        if not inspect(engine).has_table(ApiKey.__tablename__):
            return 0
        with Session(engine) as session:
            active = select(func.count()).where(col(ApiKey.revoked_at).is_(None))
            return session.exec(active.select_from(ApiKey)).one()
    except SQLAlchemyError as error:
        print(f"medimg: cannot read the API keys: {error}", file=sys.stderr)
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
