"""Scale-out: API replicas sharing one PostgreSQL database and nothing else."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from medimg_testing.server import LiveServer, drop_postgres_schema, isolated_postgres_url


@contextmanager
def replicas(
    model_dir: Path, work_dir: Path, postgres_url: str, count: int, **settings: str
) -> Iterator[list[LiveServer]]:
    """`count` started API processes on their own ports and data directories, with one
    database (a fresh schema of `postgres_url`) that also keeps the images, as replicas on
    different machines behind a load balancer run."""
    database_url, schema = isolated_postgres_url(postgres_url)
    admin_key = "mdk_" + secrets.token_urlsafe(32)  # every replica knows the same admin
    env = {"MEDIMG_IMAGE_STORE": "database"}
    env.update({f"MEDIMG_{name.upper()}": value for name, value in settings.items()})
    servers = [
        LiveServer(
            database_url=database_url,
            data_dir=work_dir / f"replica-{index}",
            model_dir=model_dir.resolve(),
            settings=env,
            admin_key=admin_key,
        )
        for index in range(count)
    ]
    with ExitStack() as stack:
        stack.callback(drop_postgres_schema, postgres_url, schema)
        for server in servers:
            server.data_dir.mkdir(parents=True, exist_ok=True)
            stack.callback(server.stop)
            server.start()  # one after the other: the first one migrates the schema
        yield servers
