"""`python -m api` refuses to listen on the network when nobody could sign in, and starts
without the imports it does not need."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from api.settings import Settings
from medimg_testing.server import LiveServer, free_loopback_port
from ml.decode import decode_image
from ml.inference import Classifier


def launch(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def no_key_environment(server: LiveServer, host: str) -> dict[str, str]:
    env = server.environment()
    del env["MEDIMG_BOOTSTRAP_ADMIN_KEY"]
    env["MEDIMG_API_HOST"] = host
    return env


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "scanner-gateway.example"])
def test_the_server_refuses_a_non_loopback_address_with_no_api_key_configured(
    tmp_path: Path, tiny_model_dir: Path, make_database_url, host: str
) -> None:
    server = LiveServer(make_database_url(), tmp_path, tiny_model_dir)

    finished = launch(no_key_environment(server, host), tmp_path)

    assert finished.returncode == 2
    assert "refusing to start" in finished.stderr
    assert "MEDIMG_BOOTSTRAP_ADMIN_KEY" in finished.stderr
    assert not (tmp_path / "blobs").exists()  # refused before anything was set up


def test_the_server_on_a_non_loopback_address_starts_once_a_key_exists(
    live_server: LiveServer, tmp_path: Path
) -> None:
    # live_server's database holds its bootstrap admin key.
    env = no_key_environment(live_server, "0.0.0.0")
    env["MEDIMG_API_PORT"] = str(free_loopback_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "api"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in process.stdout:
            if "Uvicorn running on" in line or "refusing" in line:
                break
        assert "Uvicorn running on http://0.0.0.0" in line
    finally:
        process.terminate()
        process.wait(timeout=30)


LOAD_WITHOUT_KERAS = """
import json, sys
from pathlib import Path
from api.__main__ import skip_keras_when_tensorflow_loads
from api.settings import Settings
imported_early = "tensorflow" in sys.modules
skip_keras_when_tensorflow_loads()
import api.main
from ml.decode import decode_image
from ml.inference import Classifier
classifier = Classifier.load(Settings(_env_file=None).model_dir)
prediction = classifier.predict(decode_image(Path(sys.argv[1]).read_bytes()).pixels)
print(json.dumps({
    "tensorflow_imported_early": imported_early,
    "loaded": sorted(m for m in ("tensorflow", "keras", "sklearn") if m in sys.modules),
    "probabilities": prediction.probabilities,
}))
"""


def test_the_server_process_classifies_as_before_without_importing_keras_or_scikit_learn():
    image = Path(get_testdata_file("MR_small.dcm"))
    finished = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_KERAS, str(image)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lean = json.loads(finished.stdout.strip().splitlines()[-1])

    assert lean["tensorflow_imported_early"] is False
    assert lean["loaded"] == ["tensorflow"]
    # This test process has Keras loaded: the same image gets the same answer.
    classifier = Classifier.load(Settings(_env_file=None).model_dir)
    expected = classifier.predict(decode_image(image.read_bytes()).pixels).probabilities
    assert lean["probabilities"] == pytest.approx(expected, abs=1e-6)
