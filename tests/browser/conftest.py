"""Fixtures for the browser tests: the real API (uvicorn subprocess), the SPA served from
frontend/ with a generated config.js, an API key made with the CLI, and headless system
Chromium driven by Playwright.

Nothing is downloaded: Chromium is the system binary (`MEDIMG_CHROMIUM`, or `chromium`
on PATH), never `playwright install`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from api.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
FRONTEND_DIR = REPO_ROOT / "frontend"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
# TensorFlow and the real model take a while to load on a cold machine.
API_START_TIMEOUT_S = 60
VIEWPORT = {"width": 1280, "height": 800}
# Small, so the too-large upload the error tests send stays small too.
MAX_UPLOAD_BYTES = 1024 * 1024
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def skip_or_fail(reason: str) -> None:
    """Skip locally; under CI a missing prerequisite must fail, not pass silently."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the SPA ---------------------------------------------------------------------------


def make_spa_handler(api_url: str) -> type[SimpleHTTPRequestHandler]:
    """A static handler for frontend/ whose /config.js points at `api_url`.

    Generating config.js here means the tests never edit a file in frontend/.
    """
    config_js = f"export const API_URL = {json.dumps(api_url)};\n".encode()

    class SpaHandler(SimpleHTTPRequestHandler):
        # ES modules are refused unless served with a JavaScript MIME type.
        extensions_map = {
            **SimpleHTTPRequestHandler.extensions_map,
            ".js": "text/javascript",
            ".mjs": "text/javascript",
            ".css": "text/css",
            ".html": "text/html",
        }

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?", 1)[0] == "/config.js":
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript; charset=utf-8")
                self.send_header("Content-Length", str(len(config_js)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(config_js)
                return
            super().do_GET()

        def end_headers(self) -> None:
            # Each test server has a fresh port, but never let a stale module linger.
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep pytest output readable

    return SpaHandler


@contextmanager
def serve_spa(api_url: str) -> Iterator[str]:
    """Serve frontend/ on a free port in a background thread; yields the base URL."""
    handler = partial(make_spa_handler(api_url), directory=str(FRONTEND_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- the API ---------------------------------------------------------------------------


def model_dir_override(request: pytest.FixtureRequest) -> Path | None:
    """None means "the API's default model", which is the committed one whenever it exists.

    Before a model is committed, local runs fall back to MEDIMG_MODEL_DIR or the tiny
    untrained model; CI must test the real one.
    """
    default_dir = REPO_ROOT / Settings.model_fields["model_dir"].default
    if (default_dir / "metadata.json").is_file():
        return None
    if os.environ.get("CI") == "true":
        pytest.fail(f"the committed model {default_dir} is missing")
    if os.environ.get("MEDIMG_MODEL_DIR"):
        return Path(os.environ["MEDIMG_MODEL_DIR"])
    return request.getfixturevalue("tiny_model_dir")


def wait_for_health(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + API_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the API exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(
        f"the API did not answer /healthz in {API_START_TIMEOUT_S} s:\n{log_path.read_text()}"
    )


def create_key_with_cli(env: dict[str, str], name: str, role: str) -> str:
    """`python -m api.keys create` on the API's database, as an operator would run it."""
    command = [sys.executable, "-m", "api.keys", "create", "--name", name, "--role", role]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@dataclass(frozen=True)
class RunningApp:
    spa_url: str
    api_url: str
    radiologist_key: str  # made with the CLI before the API started
    integration_key: str
    max_upload_bytes: int


@pytest.fixture(scope="session")
def running_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """The SPA and the real API it talks to, both on free ports, and a key to sign in with."""
    if not (REPO_ROOT / "api" / "main.py").is_file():
        skip_or_fail("api/main.py does not exist yet")
    model_dir = model_dir_override(request)
    tmp = tmp_path_factory.mktemp("browser-api")
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"

    # The SPA starts first: the API must list its origin for CORS.
    with serve_spa(api_url) as spa_url:
        env = {
            **os.environ,
            "MEDIMG_DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}",
            "MEDIMG_STORAGE_DIR": str(tmp / "blobs"),
            "MEDIMG_CORS_ORIGINS": json.dumps([spa_url]),
            "MEDIMG_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            # Every browser test signs in with the same key; a fast machine runs them
            # past the per-key limit within a minute (429s). The limit has its own tests.
            "MEDIMG_RATE_LIMIT_PER_MINUTE": "0",
        }
        env.pop("MEDIMG_MODEL_DIR", None)
        env.pop("MEDIMG_BOOTSTRAP_ADMIN_KEY", None)
        if model_dir is not None:
            env["MEDIMG_MODEL_DIR"] = str(model_dir)
        radiologist_key = create_key_with_cli(env, "Dr Browser", "radiologist")
        integration_key = create_key_with_cli(env, "PACS bridge", "integration")
        log_path = tmp / "api.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for_health(api_url, process, log_path)
            yield RunningApp(spa_url, api_url, radiologist_key, integration_key, MAX_UPLOAD_BYTES)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def spa_url(running_app: RunningApp) -> str:
    return running_app.spa_url


@pytest.fixture(scope="session")
def api_url(running_app: RunningApp) -> str:
    return running_app.api_url


@pytest.fixture(scope="session")
def radiologist_key(running_app: RunningApp) -> str:
    return running_app.radiologist_key


@pytest.fixture(scope="session")
def auth_headers(radiologist_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {radiologist_key}"}


@pytest.fixture
def offline_spa_url() -> Iterator[str]:
    """The SPA configured for an API port where nothing listens."""
    with serve_spa(f"http://127.0.0.1:{free_port()}") as url:
        yield url


@pytest.fixture
def foreign_origin_spa_url(api_url: str) -> Iterator[str]:
    """The SPA on an origin the API's CORS list does not include."""
    with serve_spa(api_url) as url:
        yield url


@pytest.fixture
def api_get(api_url: str, auth_headers: dict[str, str]) -> Callable[[str], dict]:
    """GET a JSON resource from the API directly, bypassing the browser."""

    def get(path: str) -> dict:
        request = urllib.request.Request(f"{api_url}{path}", headers=auth_headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    return get


# ---- the browser -----------------------------------------------------------------------


def chromium_path() -> str:
    configured = os.environ.get("MEDIMG_CHROMIUM")
    if configured:
        # An explicit choice that is wrong must say so, not quietly use another browser.
        if not Path(configured).is_file():
            skip_or_fail(f"MEDIMG_CHROMIUM={configured} does not exist")
        return configured
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    skip_or_fail("system Chromium not found: install Debian's `chromium` or set MEDIMG_CHROMIUM")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the Python package `playwright` is not installed (pip install playwright)")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProblems:
    """What went wrong inside the page: JS exceptions and any alert() dialog (XSS)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser, page_problems: PageProblems) -> Iterator[object]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda error: page_problems.errors.append(str(error)))

    def on_dialog(dialog) -> None:
        page_problems.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield page
    context.close()


# ---- inputs ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthetic_png() -> bytes:
    """A small head-like slice, so tests that need any valid image skip no dataset."""
    size = 128
    pixels = np.zeros((size, size), dtype=np.uint8)
    cv2.ellipse(pixels, (size // 2, size // 2), (50, 58), 0, 0, 360, 140, -1)
    cv2.circle(pixels, (45, 45), 12, 230, -1)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


@pytest.fixture
def sartaj_test_jpeg(dataset_dir: Path) -> Path:
    """One real MRI JPEG from the Sartaj test split."""
    class_dir = dataset_dir / "brain-tumor-mri-sartaj" / "Testing" / "glioma_tumor"
    images = sorted(class_dir.glob("*.jpg"))
    if not images:
        skip_or_fail(f"no JPEG in {class_dir}")
    return images[0]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture
def api(api_url: str, auth_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """The real API, called directly: to set up records a page then shows."""
    with httpx.Client(base_url=api_url, headers=auth_headers, timeout=60) as client:
        yield client


@pytest.fixture
def sized_page(browser, page_problems):
    """A page factory at a given viewport; every context it made is closed afterwards."""
    contexts = []

    def make(viewport: dict):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: page_problems.errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
