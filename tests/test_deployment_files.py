"""The deployment files agree with each other and with the API settings.

docker-compose.yml, the Dockerfile, deploy/ and .ci/run are only read here: no Docker engine
is needed, so these checks run everywhere the rest of the suite does.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from fnmatch import fnmatch
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from api.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CI_RUN = ROOT / ".ci" / "run"
POSTGRES_TEST_SERVER = ROOT / "scripts" / "postgres-test-server.sh"
REDIS_TEST_SERVER = ROOT / "scripts" / "redis-test-server.sh"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
SPA_CONFIG = ROOT / "frontend" / "config.js"
DEPLOY_SPA_CONFIG = ROOT / "deploy" / "frontend-config.js"

# `${VAR}`, `${VAR:-default}`, `${VAR-default}`: compose substitutes these from the shell.
COMPOSE_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
MEDIMG_VARIABLE = re.compile(r"\bMEDIMG_[A-Z0-9_]+\b")
JS_EXPORT = re.compile(
    r"^\s*export\s+(?:const|let|var|function\*?|async\s+function|class)\s+(\w+)", re.MULTILINE
)


# --- helpers -------------------------------------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service(name: str) -> dict:
    return compose()["services"][name]


def with_defaults(value: str) -> str:
    """What compose makes of `value` when none of the variables it mentions are set."""
    return COMPOSE_INTERPOLATION.sub(lambda match: match.group(2) or "", value)


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: with_defaults(str(value)) for key, value in env.items()}


def volume_sources(name: str) -> list[str]:
    sources = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, dict):
            sources.append(volume.get("source", ""))
        else:
            sources.append(volume.split(":", 1)[0])
    return sources


def is_named_volume(source: str) -> bool:
    return bool(source) and not source.startswith((".", "/", "~", "$"))


def published_ports(name: str) -> dict[int, int]:
    """Container port -> host port, from short (`"8000:8000"`) or long port syntax."""
    ports = {}
    for port in service(name).get("ports", []):
        if isinstance(port, dict):
            ports[int(port["target"])] = int(port["published"])
            continue
        *host, container = str(port).split("/", 1)[0].split(":")
        ports[int(container)] = int(host[-1]) if host else int(container)
    return ports


@cache
def dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for raw_line in DOCKERFILE.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return tuple(instructions)


def dockerfile_args(instruction: str) -> list[str]:
    return [arguments for keyword, arguments in dockerfile() if keyword == instruction]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for arguments in dockerfile_args("ENV"):
        for item in shlex.split(arguments):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"use the exec (JSON) form, not {arguments!r}"
    return parsed


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def js_exports(path: Path) -> set[str]:
    return set(JS_EXPORT.findall(path.read_text()))


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [key for key in os.environ if key.startswith("MEDIMG_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_runs_postgres_the_api_and_the_frontend():
    assert set(compose()["services"]) == {"postgres", "api", "frontend"}


def test_postgres_is_16_alpine_and_keeps_its_data_in_a_named_volume():
    postgres = service("postgres")
    assert postgres["image"] == "postgres:16-alpine"
    targets = [volume.split(":")[1] for volume in postgres["volumes"]]
    assert "/var/lib/postgresql/data" in targets
    assert all(is_named_volume(source) for source in volume_sources("postgres"))


def test_postgres_is_health_checked_with_pg_isready():
    test = service("postgres")["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))


def test_the_api_is_built_from_this_repository_and_waits_for_a_healthy_postgres():
    api = service("api")
    assert api["build"] in (".", {"context": "."})
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_api_database_url_points_at_the_postgres_service_and_its_credentials():
    url = urlsplit(environment("api")["MEDIMG_DATABASE_URL"])
    postgres_env = environment("postgres")
    assert url.scheme == "postgresql+psycopg"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == postgres_env["POSTGRES_PASSWORD"]
    assert url.path == "/" + postgres_env["POSTGRES_DB"]


def test_the_api_keeps_uploaded_images_in_a_named_volume_at_its_storage_dir():
    api_env = environment("api")
    mounts = dict(volume.split(":")[:2] for volume in service("api")["volumes"])
    storage_dir = api_env.get("MEDIMG_STORAGE_DIR", dockerfile_env().get("MEDIMG_STORAGE_DIR"))
    assert storage_dir in mounts.values()
    source = next(src for src, target in mounts.items() if target == storage_dir)
    assert is_named_volume(source)


def test_every_named_volume_the_services_use_is_declared_and_every_declared_one_is_used():
    declared = set(compose().get("volumes") or {})
    used = {
        source
        for name in compose()["services"]
        for source in volume_sources(name)
        if is_named_volume(source)
    }
    assert used == declared


def test_every_bind_mounted_file_exists_in_the_repository():
    for name in compose()["services"]:
        for source in volume_sources(name):
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_the_spa_is_published_on_8080_and_the_api_on_8000_through_the_load_balancer():
    # The api publishes no port of its own, so `--scale api=N` cannot clash on the host.
    assert published_ports("api") == {}
    assert published_ports("frontend") == {8080: 8080, 8000: 8000}
    assert "ports" not in service("postgres"), "only the api needs to reach the database"


def test_nginx_listens_on_the_port_compose_publishes():
    listen_ports = {
        int(port)
        for port in re.findall(r"^\s*listen\s+(\d+)", NGINX_CONF.read_text(), re.MULTILINE)
    }
    assert set(published_ports("frontend")) <= listen_ports


def test_every_service_has_a_healthcheck():
    for name in ("postgres", "frontend"):
        assert service(name)["healthcheck"]["test"], name
    assert "healthcheck" in service("api") or dockerfile_args("HEALTHCHECK")


def test_the_api_environment_in_compose_is_valid_settings_that_allow_the_frontend_origin(
    monkeypatch: pytest.MonkeyPatch,
):
    settings = settings_from(environment("api"), monkeypatch)
    frontend_port = published_ports("frontend")
    for host in ("localhost", "127.0.0.1"):
        assert f"http://{host}:{next(iter(frontend_port.values()))}" in settings.cors_origins


def test_the_spa_config_mounted_by_compose_exports_the_same_names_as_the_committed_one():
    assert js_exports(DEPLOY_SPA_CONFIG) == js_exports(SPA_CONFIG)
    assert "API_URL" in js_exports(DEPLOY_SPA_CONFIG)
    mounts = dict(volume.split(":")[:2] for volume in service("frontend")["volumes"])
    assert mounts["./deploy/frontend-config.js"] == "/usr/share/nginx/html/config.js"
    assert mounts["./frontend"] == "/usr/share/nginx/html"


def test_the_frontend_serves_the_repository_frontend_read_only_with_the_deploy_nginx_conf():
    frontend = service("frontend")
    assert frontend["image"].startswith("nginx:") and frontend["image"].endswith("alpine")
    assert all(volume.endswith(":ro") for volume in frontend["volumes"])
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in frontend["volumes"]


# --- Dockerfile ------------------------------------------------------------------------------


def test_the_image_is_built_from_python_3_11_slim():
    assert dockerfile()[0][0] == "FROM"
    assert dockerfile_args("FROM") == ["python:3.11-slim"]


def test_the_image_runs_as_the_unprivileged_medimg_user_with_uid_10001():
    users = dockerfile_args("USER")
    assert users and users[-1] == "medimg"
    assert any("--uid 10001" in run and "medimg" in run for run in dockerfile_args("RUN"))


def test_the_image_exposes_port_8000_and_health_checks_healthz():
    assert "8000" in " ".join(dockerfile_args("EXPOSE")).split()
    (healthcheck,) = dockerfile_args("HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in healthcheck
    assert "urllib" in healthcheck, "slim has no curl/wget; python's urllib is always there"


def test_the_image_starts_python_m_api_which_refuses_an_open_server_without_keys():
    (cmd,) = dockerfile_args("CMD")
    assert exec_form(cmd) == ["python", "-m", "api"]


def test_the_image_listens_on_all_interfaces_at_the_port_it_exposes():
    env = dockerfile_env()
    assert env["MEDIMG_API_HOST"] == "0.0.0.0"
    assert dockerfile_args("EXPOSE") == [env["MEDIMG_API_PORT"]]


def test_the_image_installs_the_project_without_editable_mode_or_pip_cache():
    installs = [run for run in dockerfile_args("RUN") if "pip install" in run]
    assert installs
    assert all("--no-cache-dir" in run for run in installs)
    assert not any(re.search(r"\s(-e|--editable)\s", run) for run in installs)
    assert any(re.search(r"pip install .*\s\.(\s|$)", run) for run in installs)


def test_every_path_the_dockerfile_copies_exists_and_is_in_the_build_context():
    patterns = dockerignore_patterns()
    for arguments in dockerfile_args("COPY"):
        *sources, _destination = [arg for arg in shlex.split(arguments) if not arg.startswith("--")]
        for source in sources:
            assert list(ROOT.glob(source)), f"COPY {source}: not in the repository"
            top = PurePosixPath(source).parts[0]
            assert not any(fnmatch(top, pattern) for pattern in patterns), (
                f"COPY {source}: excluded by .dockerignore"
            )


def test_the_model_dir_the_image_sets_is_the_committed_model():
    (workdir,) = dockerfile_args("WORKDIR")
    model_dir = PurePosixPath(dockerfile_env()["MEDIMG_MODEL_DIR"])
    relative = model_dir.relative_to(workdir)
    assert relative.parts[0] in {
        shlex.split(arguments)[0] for arguments in dockerfile_args("COPY")
    }, "the model directory must be copied into the image"
    assert (ROOT / relative / "metadata.json").is_file()


def test_the_dockerfile_defaults_are_valid_settings(monkeypatch: pytest.MonkeyPatch):
    env = {key: value for key, value in dockerfile_env().items() if key.startswith("MEDIMG_")}
    settings = settings_from(env, monkeypatch)
    assert settings.database_url.startswith("sqlite:////var/lib/medimg/")
    assert str(settings.storage_dir).startswith("/var/lib/medimg/")


def test_the_build_context_leaves_out_the_venv_git_and_local_data():
    patterns = dockerignore_patterns()
    for path in (".venv", ".git", "var", ".env", "test-artifacts"):
        assert path in patterns, path


# --- the settings every deployment file may set ----------------------------------------------


def test_every_medimg_variable_in_the_deployment_files_is_a_settings_field():
    prefix = Settings.model_config["env_prefix"]
    assert prefix == "MEDIMG_"
    fields = {prefix + name.upper() for name in Settings.model_fields}
    for path in (COMPOSE_FILE, DOCKERFILE, ROOT / "scripts" / "run.sh"):
        unknown = set(MEDIMG_VARIABLE.findall(path.read_text())) - fields
        assert not unknown, f"{path.name} sets {sorted(unknown)}, which Settings does not read"


# --- CI --------------------------------------------------------------------------------------


def test_the_ci_entry_point_is_an_executable_strict_bash_script():
    assert os.access(CI_RUN, os.X_OK)
    text = CI_RUN.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


def test_the_ci_entry_point_is_committed_as_executable():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(
        ["git", "ls-files", "--stage", "--", ".ci/run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout:
        pytest.skip(".ci/run is not tracked by git here")
    assert result.stdout.split()[0] == "100755"


def test_the_ci_entry_point_runs_make_test_with_ci_true_last():
    commands = [
        line.strip()
        for line in CI_RUN.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert "export CI=true" in commands


def test_ci_points_the_database_tests_at_the_server_it_starts():
    text = CI_RUN.read_text()
    exported = re.search(r"^export MEDIMG_TEST_POSTGRES_URL=(\S+)$", text, re.MULTILINE)
    assert exported, ".ci/run must export MEDIMG_TEST_POSTGRES_URL"
    assert "scripts/postgres-test-server.sh start" in text
    assert re.search(r"^trap .*postgres-test-server\.sh stop", text, re.MULTILINE)
    url = subprocess.run(
        [str(POSTGRES_TEST_SERVER), "url"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert exported.group(1) == url


def test_ci_points_the_job_queue_tests_at_the_redis_it_starts_and_stops():
    text = CI_RUN.read_text()
    assert re.search(r"^packages=\([^)]*\bredis-server\b", text, re.MULTILINE)
    assert re.search(
        r'^MEDIMG_TEST_REDIS_URL="\$\(scripts/redis-test-server\.sh start\)"$', text, re.MULTILINE
    )
    assert "export MEDIMG_TEST_REDIS_URL" in text
    assert re.search(r"^trap .*redis-test-server\.sh stop", text, re.MULTILINE)
    assert os.access(REDIS_TEST_SERVER, os.X_OK)


def test_ci_runs_the_browser_tests_on_the_system_chromium_and_the_shared_datasets():
    text = CI_RUN.read_text()
    assert "export MEDIMG_CHROMIUM=/usr/bin/chromium" in text
    assert "apt-get" in text and re.search(r"^packages=\(.*\bchromium\b", text, re.MULTILINE)
    assert "../shared/datasets" in text and "export MEDIMG_DATA_DIR" in text
