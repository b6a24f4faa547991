"""kill -9 the real server at random moments during a stream of uploads, again and again:
after every restart the database is intact, every record's blob exists with its sha256,
every upload answered 2xx is there, and the start-up check removed the orphans."""

import hashlib
import os
import random
import time
from collections.abc import Callable

from medimg_testing.crashes import (
    UploadStream,
    age_stored_files,
    integrity_problems,
    stored_records,
)
from medimg_testing.server import ForkServer, LiveServer

CRASH_CYCLES = int(os.environ.get("MEDIMG_TEST_CRASH_CYCLES", "30"))
# Long enough for several uploads to be in flight, short enough to hit them mid-way.
KILL_AFTER_S = (0.05, 0.6)


def assert_consistent(server: LiveServer, answered: dict[int, str]) -> None:
    assert integrity_problems(server) == []
    records = stored_records(server)
    missing = {record_id for record_id in answered if records.get(record_id) != answered[record_id]}
    assert not missing, f"answered 201 but lost: {sorted(missing)}"
    files = {path.name: path for path in server.stored_files()}
    for sha256 in set(records.values()):
        assert sha256 in files, f"a record's blob {sha256} is missing"
        assert hashlib.sha256(files[sha256].read_bytes()).hexdigest() == sha256
    assert set(files) == set(records.values()), "orphan or temporary files were left behind"


def test_kill_9_during_uploads_loses_no_acknowledged_upload_and_leaves_no_orphans(
    make_server: Callable[..., LiveServer], forkserver: ForkServer
) -> None:
    server = make_server(forkserver=forkserver)
    rng = random.Random(9)
    answered: dict[int, str] = {}
    next_index = 0

    for _ in range(CRASH_CYCLES):
        stream = UploadStream(server, next_index)
        stream.thread.start()
        stream.wait_for_first_answer()  # past start-up, in the steady stream
        time.sleep(rng.uniform(*KILL_AFTER_S))
        server.kill()
        stream.thread.join(timeout=30)
        answered |= stream.answered
        next_index = stream.index
        age_stored_files(server)
        server.start()
        assert_consistent(server, answered)

    assert server.starts == CRASH_CYCLES + 1
    assert len(answered) >= CRASH_CYCLES  # each cycle had an answered upload before its kill
