"""Manage API keys from a shell, on the configured database (MEDIMG_DATABASE_URL).

    python -m api.keys create --name NAME --role {radiologist,integration,admin}
    python -m api.keys list
    python -m api.keys revoke ID
    python -m api.keys bootstrap

`bootstrap` makes MEDIMG_BOOTSTRAP_ADMIN_KEY an admin key if the database has no key yet, as
the API does at start-up; `make run` calls it before it creates its demo key.

`create` prints the key alone on stdout (so scripts can capture it) and what it did on
stderr. The key is not stored anywhere: it cannot be shown again.
"""

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.db import create_db_and_tables, create_db_engine, sqlite_file_path
from api.models import ApiKey, ApiKeyCreate, Role
from api.security import (
    bootstrap_admin_key,
    create_api_key,
    is_last_active_admin,
    revoke_api_key,
)
from api.settings import Settings


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    args = _parser().parse_args(argv)
    args.settings = settings or Settings()
    engine = _open_database(args.settings)
    try:
        with Session(engine) as session:
            return args.command(session, args)
    finally:
        engine.dispose()


def create(session: Session, args: argparse.Namespace) -> int:
    issued = create_api_key(session, args.name, Role(args.role))
    print(issued.key)
    _say(
        f"Created key #{issued.api_key.id} {args.name!r} ({args.role}). "
        "This is the only time it is shown: store it now."
    )
    return 0


def list_keys(session: Session, _args: argparse.Namespace) -> int:
    print(f"{'id':>4}  {'prefix':<10} {'role':<12} {'status':<8} name")
    for api_key in session.exec(select(ApiKey).order_by(col(ApiKey.id))):
        status = "revoked" if api_key.revoked_at else "active"
        print(
            f"{api_key.id:>4}  {api_key.prefix:<10} {api_key.role:<12} {status:<8} {api_key.name}"
        )
    return 0


def revoke(session: Session, args: argparse.Namespace) -> int:
    api_key = session.get(ApiKey, args.id)
    if api_key is None:
        _say(f"No API key has id {args.id}; `python -m api.keys list` shows them.")
        return 1
    if is_last_active_admin(session, api_key):
        _say(f"Key #{args.id} is the last active admin key; create another admin key first.")
        return 1
    revoke_api_key(session, api_key)
    _say(f"Revoked key #{args.id} {api_key.name!r}; it no longer works.")
    return 0


def bootstrap(session: Session, args: argparse.Namespace) -> int:
    secret = args.settings.bootstrap_admin_key
    if secret is None:
        return 0  # nothing asked for
    created = bootstrap_admin_key(session.get_bind(), secret.get_secret_value())
    if created is not None:
        _say(f"Made MEDIMG_BOOTSTRAP_ADMIN_KEY admin key #{created.id} {created.name!r}.")
    return 0  # otherwise stored already, or ignored with a warning that says why


def _open_database(settings: Settings) -> Engine:
    database_file = sqlite_file_path(settings.database_url)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.database_url)
    # The CLI may run before the API ever has (e.g. `make run` on a fresh machine).
    create_db_and_tables(engine)
    return engine


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api.keys", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="{create,list,revoke,bootstrap}")

    create_parser = commands.add_parser("create", help="issue a new key and print it once")
    create_parser.add_argument(
        "--name", required=True, type=_key_name, help="who or what will use the key"
    )
    create_parser.add_argument("--role", required=True, choices=[role.value for role in Role])
    create_parser.set_defaults(command=create)

    list_parser = commands.add_parser("list", help="every key: id, prefix, role, status, name")
    list_parser.set_defaults(command=list_keys)

    revoke_parser = commands.add_parser("revoke", help="stop a key working")
    revoke_parser.add_argument("id", type=int, help="the key's id, from `list`")
    revoke_parser.set_defaults(command=revoke)

    bootstrap_parser = commands.add_parser(
        "bootstrap", help="make MEDIMG_BOOTSTRAP_ADMIN_KEY an admin key if no key exists yet"
    )
    bootstrap_parser.set_defaults(command=bootstrap)
    return parser


def _key_name(value: str) -> str:
    # The same rule as POST /keys (ApiKeyBase.name), which table models do not check.
    try:
        return ApiKeyCreate(name=value, role=Role.RADIOLOGIST).name
    except ValidationError as error:
        raise argparse.ArgumentTypeError("must be 1 to 100 characters") from error


def _say(message: str) -> None:
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
