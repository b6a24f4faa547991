"""Starts API servers fast for the kill -9 loop: TensorFlow and the app are imported once,
here, and every server is a fork of this process (the preload pattern of gunicorn).

Each server is still the real one (`python -m api`'s code path: uvicorn, the app factory,
the lifespan that migrates, checks storage and loads the model); only the 4+ s of imports
are not repeated. Protocol: one JSON line in (the server's environment, working directory and
log path), one line out (the server's pid).

"""

import json
import os
import signal
import sys

import api.main  # noqa: F401  (the expensive imports, TensorFlow included, done once)
from api.__main__ import main as run_api


def serve_forever() -> None:
    # Killed children are reaped by the kernel: no zombie stays "alive" to the tests.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_server(request["env"], request["cwd"], request["log_path"])
        print(pid, flush=True)


def _run_server(env: dict[str, str], cwd: str, log_path: str) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os._exit(run_api())


if __name__ == "__main__":
    serve_forever()
