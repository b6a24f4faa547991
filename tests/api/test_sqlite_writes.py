"""SQLite writers of one process queue on a lock instead of SQLite's sleep-and-retry."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from api.db import create_db_engine
from api.sqlite_writes import FifoLock, SerialWriteConnection

WAIT_S = 0.5


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "writes.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
    return path


def connect(path: Path, **kwargs) -> SerialWriteConnection:
    return sqlite3.connect(path, factory=SerialWriteConnection, timeout=WAIT_S, **kwargs)


def insert_in_thread(path: Path, name: str, done: list[float]) -> threading.Thread:
    def write() -> None:
        connection = connect(path, check_same_thread=False)
        connection.execute("INSERT INTO item (name) VALUES (?)", (name,))
        connection.commit()
        done.append(time.monotonic())
        connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_first_to_commit_then_writes(database: Path):
    first = connect(database)
    first.execute("INSERT INTO item (name) VALUES ('first')")
    done: list[float] = []
    second = insert_in_thread(database, "second", done)
    time.sleep(0.2)
    assert done == [], "the second writer must wait while the first transaction is open"
    committed_at = time.monotonic()
    first.commit()
    second.join(timeout=5)
    assert done and done[0] >= committed_at
    names = [row[0] for row in first.execute("SELECT name FROM item ORDER BY id")]
    assert names == ["first", "second"]


def test_a_writer_still_waiting_after_the_busy_timeout_gets_database_is_locked(database: Path):
    first = connect(database)
    first.execute("INSERT INTO item (name) VALUES ('first')")
    second = connect(database, check_same_thread=False)
    errors: list[Exception] = []

    def write() -> None:
        try:
            second.execute("INSERT INTO item (name) VALUES ('second')")
        except sqlite3.OperationalError as error:
            errors.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(timeout=5)
    assert [str(error) for error in errors] == ["database is locked"]
    first.rollback()


def test_readers_do_not_wait_for_an_open_write(database: Path):
    writer = connect(database)
    writer.execute("INSERT INTO item (name) VALUES ('pending')")
    reader = connect(database)
    started = time.monotonic()
    assert reader.execute("SELECT count(*) FROM item").fetchone() == (0,)
    assert time.monotonic() - started < WAIT_S
    writer.rollback()


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_ending_a_write_without_committing_lets_the_next_writer_in(database: Path, end: str):
    first = connect(database)
    first.execute("INSERT INTO item (name) VALUES ('dropped')")
    getattr(first, end)()
    second = connect(database)
    second.execute("INSERT INTO item (name) VALUES ('kept')")
    second.commit()
    assert second.execute("SELECT name FROM item").fetchall() == [("kept",)]


def test_an_autocommit_write_holds_the_lock_only_for_its_statement(database: Path):
    autocommit = connect(database, isolation_level=None)
    autocommit.execute("INSERT INTO item (name) VALUES ('at once')")
    other = connect(database)
    other.execute("INSERT INTO item (name) VALUES ('next')")
    other.commit()
    assert other.execute("SELECT count(*) FROM item").fetchone() == (2,)


def test_the_engine_queues_many_concurrent_writers_without_a_lock_error(database: Path):
    engine = create_db_engine(f"sqlite:///{database}", max_concurrent_requests=16)

    def write(worker: int) -> None:
        for n in range(10):
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO item (name) VALUES (:n)"), {"n": f"{worker}-{n}"}
                )

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM item")).scalar() == 160
    engine.dispose()


def test_the_file_write_lock_is_held_from_the_first_write_until_commit(database: Path):
    connection = connect(database)
    same_file = connect(database)
    connection.execute("SELECT count(*) FROM item").fetchone()
    assert not same_file._lock.locked(), "a read takes no lock"
    connection.execute("INSERT INTO item (name) VALUES ('one')")
    connection.execute("INSERT INTO item (name) VALUES ('two')")
    assert same_file._lock.locked(), "one lock per file, held by the open write"
    connection.commit()
    assert not same_file._lock.locked()


def wait_for_waiters(lock: FifoLock, count: int) -> None:
    deadline = time.monotonic() + 10
    while lock.waiting < count:
        assert time.monotonic() < deadline, "the thread never started waiting"
        time.sleep(0.001)


def test_waiting_writers_get_the_write_lock_in_the_order_they_asked_for_it() -> None:
    lock = FifoLock()
    lock.acquire()
    order: list[int] = []

    def take_turn(number: int) -> None:
        assert lock.acquire(timeout=10)
        order.append(number)
        lock.release()

    threads = []
    for number in range(6):
        threads.append(threading.Thread(target=take_turn, args=(number,)))
        threads[-1].start()
        wait_for_waiters(lock, number + 1)
    lock.release()
    for thread in threads:
        thread.join()

    assert order == list(range(6))
    assert lock.acquire(timeout=0)  # free again once every waiter has had its turn


def test_a_writer_that_gives_up_waiting_leaves_the_queue_to_the_next_one() -> None:
    lock = FifoLock()
    lock.acquire()

    assert not lock.acquire(timeout=0.05)
    assert lock.waiting == 0
    got_it = []
    waiter = threading.Thread(target=lambda: got_it.append(lock.acquire(timeout=10)))
    waiter.start()
    wait_for_waiters(lock, 1)
    lock.release()
    waiter.join()

    assert got_it == [True]
    assert not lock.acquire(timeout=0)  # handed over: the waiter holds it now
