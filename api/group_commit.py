"""Group commit on SQLite: the records of concurrent uploads reach the file together.

SQLite has one writer at a time (api/sqlite_writes.py queues them). Under 32 concurrent
uploads each transaction held the file about 15 ms instead of 3: between its statements the
writing thread waits for the GIL, which the other request threads hold. Uploads were then
stored one per hold, about 60 a second, with a fifth of the two cores idle (bench/results.md).
Here one writer thread takes every save waiting, inserts their rows together (one statement
per table for the lot) and commits once, so those waits are paid once per group.

One save whose rows fail (an idempotency key another request stored first) must not take the
others down: when a group fails, each of its saves is tried again alone, in a transaction of
its own, and gets its own outcome. PostgreSQL takes concurrent writers itself and does not
use this.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import make_transient
from sqlmodel import Session, SQLModel

from api.batching import take_waiting

# More saves than this wait for the next group: a group's transaction stays short.
MAX_GROUP = 64


@dataclass
class _Save:
    rows: list[SQLModel]
    # Runs once the rows have their ids, in the same transaction: adds what refers to them.
    before_commit: Callable[[Session], None]
    done: Future = field(default_factory=Future)


_STOP = object()


class GroupCommitter:
    """One writer thread for one SQLite file's grouped saves."""

    def __init__(self, engine: Engine, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._max_group = max_group
        self._guard = threading.Lock()
        self._in_flight = 0  # saves between save()'s start and end, whoever commits them
        self._saves: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._writer.start()

    def save(
        self,
        rows: list[SQLModel],
        before_commit: Callable[[Session], None],
        commit_alone: Callable[[], None],
    ) -> None:
        """Returns once the rows, and what before_commit adds, are committed; raises what
        saving them alone raised. With no other save in flight there is nobody to group
        with: `commit_alone` commits on the caller's own session, sparing it the hand-over
        to the writer thread (about 1.5 ms a request)."""
        with self._guard:
            self._in_flight += 1
            alone = self._in_flight == 1
        try:
            if alone:
                commit_alone()
            else:
                save = _Save(rows, before_commit)
                self._saves.put(save)
                save.done.result()
        finally:
            with self._guard:
                self._in_flight -= 1

    @property
    def waiting(self) -> int:
        """Saves queued for the next group."""
        return self._saves.qsize()

    def close(self) -> None:
        """Commit the saves already waiting, then stop the writer."""
        self._saves.put(_STOP)
        self._writer.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            group, stopping = self._next_group()
            if group:
                self._commit(group)

    def _next_group(self) -> tuple[list[_Save], bool]:
        first = self._saves.get()
        if first is _STOP:
            return [], True
        # No waiting for company: the group is whoever queued while the last one committed.
        return take_waiting(self._saves, first, self._max_group, time.monotonic(), _STOP)

    def _commit(self, group: list[_Save]) -> None:
        try:
            self._commit_together(group)
        except Exception as error:
            if len(group) == 1:
                group[0].done.set_exception(error)
                return
            # Whose rows failed the group is not known: each tries again on its own.
            for save in group:
                self._commit([save])
            return
        for save in group:
            save.done.set_result(None)

    def _commit_together(self, group: list[_Save]) -> None:
        # expire_on_commit=False: the callers read their rows after the writer's commit.
        with Session(self._engine, expire_on_commit=False) as session:
            try:
                for save in group:
                    session.add_all(save.rows)
                session.flush()  # one INSERT per table, every row of the group
                for save in group:
                    save.before_commit(session)
                session.commit()
            except Exception:
                session.rollback()
                _forget_ids(group)
                raise


def _forget_ids(group: list[_Save]) -> None:
    """Rows of a rolled-back group are new again: the database numbers them afresh."""
    for save in group:
        for row in save.rows:
            make_transient(row)
            row.id = None


_committers: dict[int, GroupCommitter] = {}
_committers_guard = threading.Lock()


def group_committer(engine: Engine) -> GroupCommitter | None:
    """The committer of an SQLite file's engine, started on first use and stopped when the
    engine is disposed; None for PostgreSQL and for in-memory SQLite (one connection shared
    by every session: a second thread must not write on it)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    with _committers_guard:
        committer = _committers.get(id(engine))
        if committer is None:
            committer = _committers[id(engine)] = GroupCommitter(engine)
            event.listen(engine, "engine_disposed", _close_committer)
        return committer


def _close_committer(engine: Engine) -> None:
    with _committers_guard:
        committer = _committers.pop(id(engine), None)
    if committer is not None:
        committer.close()
