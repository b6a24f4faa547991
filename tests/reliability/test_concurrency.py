"""Concurrent uploads, duplicates and deletes on the real server: counts exact, no 5xx."""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import httpx

from medimg_testing.server import LiveServer
from medimg_testing.uploads import distinct_pngs, post_all_at_once

DISTINCT_UPLOADS = 200
IDENTICAL_UPLOADS = 20


def test_200_concurrent_distinct_uploads_make_exactly_200_records_and_blobs(
    live_server: LiveServer,
) -> None:
    images = distinct_pngs(DISTINCT_UPLOADS, salt=1)
    records_before = live_server.record_count()
    files_before = set(live_server.stored_files())

    responses = post_all_at_once(live_server, images)

    assert [r.status_code for r in responses] == [201] * DISTINCT_UPLOADS, {
        r.status_code: r.text for r in responses if r.status_code != 201
    }
    assert live_server.record_count() == records_before + DISTINCT_UPLOADS
    new_files = set(live_server.stored_files()) - files_before
    assert {path.name for path in new_files} == {hashlib.sha256(i).hexdigest() for i in images}
    assert "database is locked" not in live_server.log_text()


def test_20_concurrent_uploads_of_the_same_bytes_store_one_blob(live_server: LiveServer) -> None:
    image = distinct_pngs(1, salt=2)[0]
    sha256 = hashlib.sha256(image).hexdigest()

    responses = post_all_at_once(live_server, [image] * IDENTICAL_UPLOADS)

    assert [r.status_code for r in responses] == [201] * IDENTICAL_UPLOADS
    assert len({r.json()["id"] for r in responses}) == IDENTICAL_UPLOADS
    assert [p.name for p in live_server.stored_files() if sha256 in p.name] == [sha256]


def test_deleting_records_while_others_read_them_never_answers_5xx(
    live_server: LiveServer,
) -> None:
    image = distinct_pngs(1, salt=3)[0]
    with live_server.client() as client:
        ids = [client.post("/classify", files={"file": ("s.png", image)}).json()["id"]]
        ids += [client.post("/classify", files={"file": ("s.png", image)}).json()["id"]]
    paths = [f"/records/{record_id}{suffix}" for record_id in ids for suffix in ("", "/image")]
    calls = [("DELETE", f"/records/{record_id}") for record_id in ids] * 3
    calls += [("GET", path) for path in paths] * 10 + [("GET", "/records")] * 10

    limits = httpx.Limits(max_connections=len(calls))
    with live_server.client(limits=limits) as client, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda call: client.request(*call), calls))

    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    assert {r.status_code for r in responses} <= {200, 204, 404}
    with live_server.client() as client:
        assert [client.get(f"/records/{i}").status_code for i in ids] == [404, 404]
    assert not [
        p for p in live_server.stored_files() if p.name == hashlib.sha256(image).hexdigest()
    ]
