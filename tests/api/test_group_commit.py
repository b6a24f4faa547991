"""Group commit on SQLite: concurrent saves share a transaction, and fail only on their own."""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.db import create_db_and_tables, create_db_engine
from api.group_commit import GroupCommitter, group_committer
from api.models import Record

WAIT_S = 10


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'grouped.db'}")
    create_db_and_tables(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def commits(sqlite_engine: Engine) -> list[int]:
    """One entry per transaction committed on the engine."""
    seen: list[int] = []
    event.listen(sqlite_engine, "commit", lambda connection: seen.append(1))
    return seen


def a_record(number: int) -> Record:
    return Record(
        label="glioma",
        probabilities={"glioma": 0.7, "meningioma": 0.1, "no_tumor": 0.1, "pituitary": 0.1},
        model_version="0.0.0-test",
        media_type="image/png",
        image_sha256=f"{number:064x}",
        width=96,
        height=96,
    )


def stored_hashes(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(Record.image_sha256)))


def nothing(session: Session) -> None:
    pass


@pytest.fixture
def held_writer(sqlite_engine: Engine) -> Iterator[tuple[GroupCommitter, threading.Event]]:
    """A committer whose writer is kept busy by a first save until the test lets it go, so
    that the saves sent meanwhile wait together for the next group."""
    committer = GroupCommitter(sqlite_engine)
    release = threading.Event()
    yield committer, release
    release.set()
    committer.close()


def never_alone() -> None:
    raise AssertionError("a save with others in flight went around the writer")


def send_while_held(
    committer: GroupCommitter,
    release: threading.Event,
    saves: list[tuple[Record, Callable[[Session], None]]],
    engine: Engine,
) -> list[Future]:
    """A first save commits alone on its caller's session and is held there; a second, no
    longer alone, goes to the writer and holds it; the rest queue up behind it."""
    pool = ThreadPoolExecutor(max_workers=len(saves) + 2)
    holding = threading.Semaphore(0)

    def hold_alone() -> None:
        holding.release()
        release.wait(WAIT_S)

    def hold(session: Session) -> None:
        hold_alone()

    def commit_alone(record: Record) -> Callable[[], None]:
        def commit() -> None:
            # Held before it writes: it must not keep the file's write lock from the writer.
            hold_alone()
            with Session(engine) as session:
                session.add(record)
                session.commit()

        return commit

    first, second = a_record(0), a_record(100)
    held = [pool.submit(committer.save, [first], hold, commit_alone(first))]
    assert holding.acquire(timeout=WAIT_S)
    held.append(pool.submit(committer.save, [second], hold, never_alone))
    assert holding.acquire(timeout=WAIT_S)
    futures = [pool.submit(committer.save, [record], then, never_alone) for record, then in saves]
    deadline = time.monotonic() + WAIT_S
    while committer.waiting < len(saves):
        assert time.monotonic() < deadline, "the saves never reached the writer's queue"
        time.sleep(0.001)
    release.set()
    for future in held:
        future.result(WAIT_S)
    pool.shutdown(wait=False)
    return futures


def test_saves_that_wait_together_are_committed_in_one_transaction(
    held_writer: tuple[GroupCommitter, threading.Event], sqlite_engine: Engine, commits: list[int]
) -> None:
    committer, release = held_writer
    records = [a_record(number) for number in range(1, 6)]

    saves = [(record, nothing) for record in records]
    futures = send_while_held(committer, release, saves, sqlite_engine)

    assert [future.result(WAIT_S) for future in futures] == [None] * 5
    assert len(commits) == 3  # the two holding saves', then one for the five waiting
    assert stored_hashes(sqlite_engine) == {f"{n:064x}" for n in (0, 100, 1, 2, 3, 4, 5)}
    assert len({record.id for record in records}) == 5


def test_a_save_that_fails_fails_alone_and_the_rest_of_its_group_is_stored(
    held_writer: tuple[GroupCommitter, threading.Event], sqlite_engine: Engine
) -> None:
    committer, release = held_writer

    def refuse(session: Session) -> None:
        raise ValueError("this save's answer could not be made")

    saves = [(a_record(1), nothing), (a_record(2), refuse), (a_record(3), nothing)]
    futures = send_while_held(committer, release, saves, sqlite_engine)

    assert futures[0].result(WAIT_S) is None and futures[2].result(WAIT_S) is None
    with pytest.raises(ValueError, match="could not be made"):
        futures[1].result(WAIT_S)
    assert stored_hashes(sqlite_engine) == {f"{n:064x}" for n in (0, 100, 1, 3)}
    with Session(sqlite_engine) as session:
        assert session.exec(select(func.count()).select_from(Record)).one() == 4


def test_postgresql_and_in_memory_sqlite_commit_on_their_own_session() -> None:
    assert group_committer(create_db_engine("sqlite://")) is None
    assert group_committer(create_db_engine("postgresql://u:p@127.0.0.1:1/x")) is None


def test_a_save_with_nothing_else_in_flight_is_committed_by_its_caller(
    sqlite_engine: Engine,
) -> None:
    committer = GroupCommitter(sqlite_engine)
    record = a_record(1)

    def commit_alone() -> None:
        with Session(sqlite_engine) as session:
            session.add(record)
            session.commit()

    committer.save([record], nothing, commit_alone)
    committer.close()

    assert stored_hashes(sqlite_engine) == {f"{1:064x}"}


def test_a_save_that_fails_in_a_group_of_its_own_is_not_tried_twice(
    held_writer: tuple[GroupCommitter, threading.Event], sqlite_engine: Engine
) -> None:
    committer, release = held_writer
    tries = []

    def refuse(session: Session) -> None:
        tries.append(1)
        raise ValueError("this save's answer could not be made")

    [future] = send_while_held(committer, release, [(a_record(1), refuse)], sqlite_engine)

    with pytest.raises(ValueError, match="could not be made"):
        future.result(WAIT_S)
    assert len(tries) == 1
