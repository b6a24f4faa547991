"""The measurements of issue #29 for `bench/reliability.py`: slow anonymous bodies beside a
real client, a keyless flood against the audit trail, extreme query values, every view of
each DICOM record the fuzz accepted, identifying values in the server log, and batches with
one hostile file. Each takes the server and the backend's figures, as the others there do.

The hostile inputs and query values are those of the tests that pin each fix (tests/api);
the bench imports them rather than keeping copies.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import httpx

from api.models import AuditEvent
from bench.data import BenchUpload
from bench.load import run_load, warm_up
from medimg_testing.bombs import costly_png
from medimg_testing.corpus import seed_files
from medimg_testing.hostile import (
    AT_THE_CALENDAR_EDGE,
    MODALITY_CS,
    OUT_OF_CALENDAR,
    ROWS_US,
    cursor,
    head_of_one_bright_row,
    mr_small,
    with_odd_value_length,
    with_unknown_vr,
)
from medimg_testing.phi import (
    UPLOAD_NAME,
    dicom_whose_sop_instance_uid_swallows_the_patient,
    identified_dicom,
    identifying_values,
    lines_carrying,
)
from medimg_testing.server import LiveServer
from medimg_testing.slow_bodies import SlowSocket, open_slow_upload, trickle
from medimg_testing.uploads import Answer, distinct_pngs

if TYPE_CHECKING:
    from bench.reliability import BackendFigures

# Slow bodies: the 70 keyless sockets, ten of them declaring more than they send,
# beside one real client; two keyed ones of each kind show the body timeout (408).
SLOW_SECONDS = 45.0
SLOW_KINDS = {  # name: (keyed, body bytes sent at once, Content-Length beyond the body, count)
    "keyless, body a byte a second": (False, 0, 0, 60),
    "keyless, Content-Length 64 KiB past the body": (False, 10**9, 65_536, 10),
    "keyed, body a byte a second": (True, 0, 0, 2),
    "keyed, Content-Length 64 KiB past the body": (True, 10**9, 65_536, 2),
}
UNLOADED_UPLOADS = 30
FLOOD_REQUESTS = 500
UNRECORDED = re.compile(r"^medimg_audit_anonymous_refusals_unrecorded_total (\S+)$", re.M)
QUERIED_PATHS = ("/records", "/audit", "/keys", "/stats")
BEYOND_INT64 = (str(2**63), str(2**64), str(-(2**63) - 1))
NUL_TEXT = "pacs\x00west"
SOME_TIME = "2024-01-01T00:00:00+00:00"
FORGED_CURSORS = (cursor(SOME_TIME, True), cursor(SOME_TIME, 1.5), cursor(OUT_OF_CALENDAR[0], 1))
# Every view of a record: the derived objects (SR, Secondary Capture, FHIR) and the images.
RECORD_VIEWS = ("sr", "heatmap.dcm", "fhir", "image", "original")
DICOM = "application/dicom"


def measure_anonymous_flood(server: LiveServer, figures: BackendFigures) -> None:
    """Keyless requests against the audit trail: one row per address a minute, the rest
    counted on /metrics. Run first on its server, so no earlier refusal took the row."""
    rows_before, unrecorded_before = anonymous_audit_rows(server), unrecorded_refusals(server)
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=30) as stranger:
        statuses = Counter(stranger.get(f"/records/{n}").status_code for n in range(FLOOD_REQUESTS))
    seconds = time.perf_counter() - started
    rows = anonymous_audit_rows(server) - rows_before
    unrecorded = unrecorded_refusals(server) - unrecorded_before
    figures.add(
        f"{FLOOD_REQUESTS} keyless requests in {seconds:.0f} s: answered",
        _statuses(statuses),
    )
    figures.add(
        "the same: audit rows written / counted on /metrics as unrecorded",
        f"{rows} / {unrecorded:.0f}",
    )


def anonymous_audit_rows(server: LiveServer) -> int:
    return server.row_count(AuditEvent, AuditEvent.key_id.is_(None))


def unrecorded_refusals(server: LiveServer) -> float:
    with server.client() as admin:
        found = UNRECORDED.search(admin.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def measure_slow_bodies(
    uploads: list[BenchUpload], server: LiveServer, figures: BackendFigures
) -> None:
    """The slow sockets of each kind for SLOW_SECONDS while one real client uploads, on a
    server with the default admission limits."""
    key, urls = server.admin_key, [server.url]
    warm_up(urls, key, uploads, 10)
    unloaded = run_load(urls, key, uploads, clients=1, seconds=60, max_requests=UNLOADED_UPLOADS)
    sockets = open_slow_sockets(server)
    every_socket = [slow for group in sockets.values() for slow in group]
    slow = threading.Thread(target=trickle, args=(every_socket, SLOW_SECONDS))
    slow.start()
    loaded = run_load(urls, key, uploads, clients=1, seconds=SLOW_SECONDS)
    slow.join()
    for name, group in sockets.items():
        figures.add(f"{len(group)} slow uploads, {name}", slow_socket_outcome(group))
    figures.add(
        "one real client meanwhile: answered; p50 / p95",
        f"{_statuses(loaded.statuses)}; "
        f"{loaded.percentile_ms(50):.0f} ms / {loaded.percentile_ms(95):.0f} ms "
        f"(alone before: {unloaded.percentile_ms(50):.0f} ms / "
        f"{unloaded.percentile_ms(95):.0f} ms)",
    )
    if loaded.errors:
        figures.fail(f"{loaded.errors} real uploads refused beside the slow sockets")


def open_slow_sockets(server: LiveServer) -> dict[str, list[SlowSocket]]:
    _, key = server.make_key("integration", "slow-sender")
    png = distinct_pngs(1, salt=21)[0]
    return {
        name: [
            open_slow_upload(
                server, png, key=key if keyed else None, sent_at_once=sent, declared_extra=extra
            )
            for _ in range(count)
        ]
        for name, (keyed, sent, extra, count) in SLOW_KINDS.items()
    }


def slow_socket_outcome(sockets: list[SlowSocket]) -> str:
    """Answered (status, median and max time), then ended by the server or left open."""
    answered = [s.answered_s for s in sockets if s.answered_s is not None]
    closed = [s.closed_s for s in sockets if s.closed_s is not None]
    text = _statuses(Counter(s.status or "none" for s in sockets))
    if answered:
        text += f" after {_median_max(answered)}"
    if closed:
        text += f"; closed by the server after {_median_max(closed)}"
    still_open = len(sockets) - len(closed)
    if still_open:
        text += f"; {still_open} still connected at {SLOW_SECONDS:.0f} s"
    return text


def measure_extreme_queries(server: LiveServer, figures: BackendFigures) -> None:
    """Every query parameter of the listing routes at the edge of what a 64-bit integer, the
    calendar or the database holds (read from the server's OpenAPI), a forged cursor, a
    record id past 2^63 and a NUL in an upload's `source_system`."""
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        cases = [
            (f"GET {path}?{name}", client.get(path, params={name: value}))
            for path, name, value in extreme_query_cases(spec)
        ]
        cases.append((f"GET /records/{2**63}", client.get(f"/records/{2**63}")))
        nul_form = {"source_system": NUL_TEXT}
        files = {"file": ("a.png", distinct_pngs(1, salt=22)[0])}
        cases.append(
            ("POST /classify source_system", client.post("/classify", data=nul_form, files=files))
        )
    classes = Counter(f"{response.status_code // 100}xx" for _, response in cases)
    failed = sorted({what for what, response in cases if response.status_code >= 500})
    figures.add(
        f"{len(cases)} requests with extreme query or form values: answered",
        ", ".join(f"{c}: {n}" for c, n in sorted(classes.items()))
        + (f" (5xx: {', '.join(failed)})" if failed else ""),
    )
    if failed:
        figures.fail(f"5xx for extreme values of {', '.join(failed)}")


def extreme_query_cases(spec: dict) -> list[tuple[str, str, str]]:
    return [
        (path, parameter["name"], value)
        for path in QUERIED_PATHS
        for parameter in spec["paths"][path]["get"].get("parameters", [])
        for value in extreme_values(parameter)
    ]


def extreme_values(parameter: dict) -> tuple[str, ...]:
    if parameter["name"] == "cursor":
        return FORGED_CURSORS
    schema = parameter["schema"]
    kinds = {(kind.get("type"), kind.get("format")) for kind in [schema, *schema.get("anyOf", [])]}
    if ("integer", None) in kinds:
        return BEYOND_INT64
    if ("string", "date-time") in kinds:
        return (*OUT_OF_CALENDAR, *AT_THE_CALENDAR_EDGE)
    return (NUL_TEXT,)


def measure_record_views(server: LiveServer, fuzz: list[Answer], figures: BackendFigures) -> None:
    """Every view of each DICOM record the fuzz got a 201 for."""
    accepted = {
        a.body["id"]: a.name for a in fuzz if a.status == 201 and a.body["media_type"] == DICOM
    }
    statuses: dict[str, Counter] = {view: Counter() for view in RECORD_VIEWS}
    failed: list[str] = []
    started = time.perf_counter()
    with server.client() as client:
        for record_id, name in accepted.items():
            for view in RECORD_VIEWS:
                status = client.get(f"/records/{record_id}/{view}").status_code
                statuses[view][status] += 1
                if status >= 500:
                    failed.append(f"{view} of {name}")
    seconds = time.perf_counter() - started
    figures.add(
        f"every view of the {len(accepted)} DICOM records the fuzz accepted, in {seconds:.0f} s",
        "; ".join(f"{view}: {_statuses(counts)}" for view, counts in statuses.items()),
    )
    figures.add(
        "the same reads: 5xx",
        f"{len(failed)}" + (f" (e.g. {'; '.join(failed[:3])})" if failed else ""),
    )
    if failed:
        figures.fail(f"{len(failed)} reads of a view of an accepted DICOM record answered 5xx")


def measure_log_phi(server: LiveServer, figures: BackendFigures) -> None:
    """After the fuzz, the PHI-bearing files of tests/reliability/test_phi.py (one of them
    damaged so that pydicom warns, quoting its values); then the whole server log searched
    for every identifying value of the fuzz seeds and of those files."""
    damaged, damaged_values = dicom_whose_sop_instance_uid_swallows_the_patient()
    identified, identified_values = identified_dicom()
    with server.client() as client:
        answers = [
            client.post("/classify", files={"file": (UPLOAD_NAME, data)}).status_code
            for data in (damaged, identified)
        ]
    values = identifying_values(data for name, data in seed_files() if name.endswith(".dcm"))
    values |= {*damaged_values, *identified_values}
    log = server.log_text()
    carrying = lines_carrying(log, values)
    figures.add(
        f"server log after the fuzz and the PHI-bearing uploads ({', '.join(map(str, answers))})",
        f"{len(log.splitlines()):,} lines searched for {len(values):,} identifying values: "
        f"{len(carrying)} lines carry one",
    )
    if carrying:
        figures.fail(f"{len(carrying)} server log lines carry an identifying value")


def hostile_files() -> dict[str, bytes]:
    damaged, _ = dicom_whose_sop_instance_uid_swallows_the_patient()
    return {
        "DICOM with an unknown VR": with_unknown_vr(mr_small(), MODALITY_CS),
        "DICOM with a bad value length": with_odd_value_length(mr_small(), ROWS_US),
        "DICOM whose UID swallows the patient": damaged,
        "4800×4800 PNG of one bright row": head_of_one_bright_row(4800),
        "16-bit RGBA PNG of 6000×6000": costly_png(6000),
    }


def measure_hostile_batches(server: LiveServer, figures: BackendFigures) -> None:
    """A batch of two good slices around one hostile file, for each hostile file."""
    first, last = distinct_pngs(2, salt=23)
    with server.client() as client:
        for name, data in hostile_files().items():
            files = [("files", (f"{n}", d)) for n, d in enumerate((first, data, last))]
            response = client.post("/classify/batch", files=files)
            per_file = [str(r["status"]) for r in response.json().get("results", [])]
            figures.add(
                f"batch of 2 good slices around a {name}",
                f"{response.status_code}; per file {', '.join(per_file) or 'none'}",
            )
            if response.status_code != 200 or per_file[::2] != ["201", "201"]:
                figures.fail(f"a batch with a {name} did not answer its good files")


def _statuses(counts: Counter) -> str:
    return ", ".join(f"{status}: {n:,}" for status, n in sorted(counts.items(), key=str))


def _median_max(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s"
