"""The real API server in a subprocess on a free loopback port, for the reliability tests and
`bench/reliability.py`: `python -m api` (uvicorn, the app factory), configured only through
MEDIMG_* environment variables, as an operator would run it.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, func, select

from api.db import create_db_engine
from api.models import Record

REPO_ROOT = Path(__file__).resolve().parents[1]
# Generous: TensorFlow alone takes 4 s to import on an idle machine, 30+ s on a busy one.
START_TIMEOUT_S = 300
# A bootstrap admin key is the only key an empty database gets; the tests make the others.
ADMIN_KEY_BYTES = 32


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_postgres_url(base_url: str) -> tuple[str, str]:
    """A URL whose tables live in a new schema of their own, so servers never share data."""
    schema = f"rel_{uuid.uuid4().hex[:12]}"
    engine = create_db_engine(base_url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_postgres_schema(base_url: str, schema: str) -> None:
    engine = create_db_engine(base_url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


class ForkServer:
    """A process that has imported the app once and forks a new server on request."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medimg_testing.forkserver"],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def spawn(self, env: dict[str, str], cwd: Path, log_path: Path) -> int:
        request = {"env": env, "cwd": str(cwd), "log_path": str(log_path)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@dataclass
class LiveServer:
    """One data directory and database; `start()` may run again after `kill()`."""

    database_url: str
    data_dir: Path
    model_dir: Path
    settings: dict[str, str] = field(default_factory=dict)
    admin_key: str = field(default_factory=lambda: "mdk_" + secrets.token_urlsafe(ADMIN_KEY_BYTES))
    port: int = field(default_factory=free_loopback_port)
    forkserver: ForkServer | None = None  # None: a fresh `python -m api` process each start
    process: subprocess.Popen | None = None
    server_pid: int | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def temp_dir(self) -> Path:
        """The server's TMPDIR: where multipart parsing spools big uploads."""
        return self.data_dir / "tmp"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def pid(self) -> int:
        assert self.server_pid is not None, "the server is not running"
        return self.server_pid

    def environment(self) -> dict[str, str]:
        # The tests' own MEDIMG_* variables (a developer's shell) must not leak in.
        env = {name: value for name, value in os.environ.items() if not name.startswith("MEDIMG")}
        env.update(
            {
                "MEDIMG_API_HOST": "127.0.0.1",
                "MEDIMG_API_PORT": str(self.port),
                "MEDIMG_DATABASE_URL": self.database_url,
                "MEDIMG_STORAGE_DIR": str(self.storage_dir),
                # On disk with PostgreSQL too: the reliability checks read the stored files.
                # The database store is tested by tests/api and the replicas (replicas.py).
                "MEDIMG_IMAGE_STORE": "disk",
                "MEDIMG_MODEL_DIR": str(self.model_dir),
                "MEDIMG_BOOTSTRAP_ADMIN_KEY": self.admin_key,
                "MEDIMG_RATE_LIMIT_PER_MINUTE": "0",
                "TMPDIR": str(self.temp_dir),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": str(REPO_ROOT),
            }
        )
        env.update(self.settings)
        return env

    def start(self) -> float:
        """Start and wait until /readyz answers 200; returns the seconds it took."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if self.forkserver is not None:
            self.server_pid = self.forkserver.spawn(
                self.environment(), self.data_dir, self.log_path
            )
        else:
            with self.log_path.open("ab") as log:
                # cwd outside the repository: a developer's .env must not configure it.
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "api"],
                    cwd=self.data_dir,
                    env=self.environment(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.server_pid = self.process.pid
        self.starts += 1
        self._wait_until_ready()
        return time.perf_counter() - started

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.is_alive():
                raise RuntimeError("the server exited; its log ends:\n" + self.log_text()[-4000:])
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {START_TIMEOUT_S} s")

    def kill(self) -> None:
        """kill -9: no shutdown code runs, as in a power cut of the process."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, signal_number: int) -> None:
        if self.is_alive():
            process = psutil.Process(self.pid)
            process.send_signal(signal_number)
            psutil.wait_procs([process], timeout=30)
        if self.process is not None:
            self.process.wait(timeout=30)
        self.process = self.server_pid = None

    def is_alive(self) -> bool:
        if self.server_pid is None:
            return False
        try:
            return psutil.Process(self.server_pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def client(self, key: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    def make_key(self, role: str, name: str | None = None) -> tuple[int, str]:
        """A new API key with `role`, issued through the API by the admin; (id, key)."""
        with self.client() as admin:
            answer = admin.post("/keys", json={"name": name or f"rel-{role}", "role": role})
        answer.raise_for_status()
        body = answer.json()
        return body["id"], body["key"]

    def engine(self) -> Engine:
        return create_db_engine(self.database_url)

    def record_count(self) -> int:
        return self.row_count(Record)

    def row_count(self, table: type[SQLModel], *where: ColumnElement[bool]) -> int:
        """Rows of `table` (a SQLModel table class) that match every condition in `where`."""
        engine = self.engine()
        try:
            with Session(engine) as session:
                return session.exec(select(func.count()).select_from(table).where(*where)).one()
        finally:
            engine.dispose()

    def stored_files(self) -> list[Path]:
        """Every file under the blob store, temporary ones included."""
        return sorted(path for path in self.storage_dir.rglob("*") if path.is_file())

    def temp_files(self) -> list[Path]:
        return sorted(path for path in self.temp_dir.rglob("*") if path.is_file())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def table_dump(engine: Engine) -> str:
    """Every row of every table, as text: what a leaked database would show."""
    lines: list[str] = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                lines.append(f"{table}: {tuple(row)!r}")
    return "\n".join(lines)
