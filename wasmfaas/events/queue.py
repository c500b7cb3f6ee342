"""The durable queue behind asynchronous invocations: the interface, and its embedded default on SQLite.

At-least-once by leases: `claim` hands an event out until `now + lease_s`; a worker acks it, schedules a retry, or
moves it to the dead letters. An event whose lease runs out (its worker died, or stopped renewing) is claimable
again. Each claim bumps the event's `delivery` number, the lease's token: ack, retry and dead act only on the
delivery they were given, so a worker that lost its lease cannot undo the work of the one that took over.

`SqliteEventQueue` keeps everything in `<data_dir>/events.sqlite3` (WAL): the events, the dead letters and the
EventInvokeConfigs. One column, `due_at`, says when an event may be claimed: its retry time while it waits, its
lease expiry while it is claimed, so one index serves both. Every change is one transaction. Two connections,
each serialised by its own lock, split the work by durability:

- the durable one (`synchronous=FULL`: fsync on commit, so a 202 survives power loss, not only `kill -9`) takes
  puts, replays and configuration changes. Puts arriving together share one commit (group commit): one fsync for
  a burst of submits instead of one each.
- the working one (`synchronous=NORMAL`: no fsync per commit in WAL mode, still safe against a process crash)
  takes claims, lease renewals, acks, retries and dead letters. Losing one of those to a power cut only means an
  event runs again, which at-least-once allows.

Every blocking call runs in a worker thread (`anyio.to_thread.run_sync`), never on the event loop.

Consumers and crashes: `recover` is called by a consumer at start. It takes a shared lock on
`events.sqlite3.consumers` for the consumer's lifetime; if it can first take it exclusively, no other consumer is
alive, so every lease in the database belongs to a dead process and is released at once. Otherwise leases of dead
consumers expire by themselves.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self

import anyio
import anyio.to_thread
import msgspec

from .._files import private_database
from ..errors import FunctionNotFoundError, InvalidParameterError, PlatformClosedError
from .invoke_config import StoredInvokeConfig
from .records import DeadLetter, QueuedEvent

__all__ = [
    "DB_NAME",
    "DeadLetterNotFoundError",
    "EventQueue",
    "InvokeConfigStore",
    "SqliteEventQueue",
]

DB_NAME: Final = "events.sqlite3"
_SCHEMA_VERSION: Final = 3
# Free pages up to this much stay in the file for new events; past it, upkeep gives them back.
_FREE_BYTES_KEPT: Final = 64 * 1024 * 1024
# The WAL is cut back to this after a checkpoint.
_WAL_LIMIT: Final = 16 * 1024 * 1024
_BUSY_TIMEOUT_S: Final = 30.0

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    due_at REAL NOT NULL,                  -- claimable when <= now: retry time, or lease expiry while leased
    leased INTEGER NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0, -- the lease token
    body BLOB NOT NULL,                    -- QueuedEvent, MessagePack
    function_name TEXT NOT NULL DEFAULT '' -- the body's, for claims that pass over busy functions (schema 3)
);
CREATE INDEX IF NOT EXISTS events_due ON events (due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    function_name TEXT NOT NULL,
    body BLOB NOT NULL,                    -- DeadLetter, JSON
    failed_at REAL                         -- the letter's failed_at, for retention (schema 3)
);
CREATE INDEX IF NOT EXISTS dead_letters_function ON dead_letters (function_name, seq);
CREATE TABLE IF NOT EXISTS dead_letters_gone (  -- replayed or deleted: where they were, for a page that ended there
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invoke_configs (
    function_name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    body BLOB NOT NULL,                    -- StoredInvokeConfig, JSON
    PRIMARY KEY (function_name, qualifier)
);
CREATE TABLE IF NOT EXISTS deletions (    -- DeleteFunctions under way: what a crash cuts short is finished at start
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function_name TEXT NOT NULL,
    qualifier TEXT                         -- NULL: the whole function
);
"""


class DeadLetterNotFoundError(FunctionNotFoundError):
    """No dead letter by that id (Lambda's ResourceNotFoundException on the wire)."""


class EventQueue(Protocol):
    """A durable, lease-based queue of invocation events, with a dead-letter store. At-least-once."""

    async def put(self, event: QueuedEvent) -> None:
        """Enqueue `event`, due at once; returns only once the event is durable."""
        ...

    async def claim(self, now: float, lease_s: float, *, skip: Collection[str] = ()) -> QueuedEvent | None:
        """The next event due at `now` of a function not in `skip`, leased until `now + lease_s` (its `delivery`
        set), or None."""
        ...

    async def renew(self, events: Sequence[QueuedEvent], until: float) -> None:
        """Extend the leases of events still being worked on."""
        ...

    async def ack(self, event: QueuedEvent, *, then_put: QueuedEvent | None = None) -> bool:
        """Remove a finished event, enqueuing `then_put` in the same transaction; False if the lease was lost."""
        ...

    async def retry(self, event: QueuedEvent, not_before: float) -> bool:
        """Store `event` (its counters updated) and release it, due at `not_before`; False if the lease was lost."""
        ...

    async def dead(self, event: QueuedEvent, letter: DeadLetter) -> bool:
        """Move a leased event to the dead letters; False if the lease was lost."""
        ...

    async def bury_function(
        self,
        function_name: str,
        qualifier: str | None,
        letter: Callable[[QueuedEvent], DeadLetter],
        *,
        enqueued_before: float,
    ) -> int:
        """Move a deleted function's events -- all of them with `qualifier` None, else those of that qualifier --
        enqueued before its deletion (`enqueued_before`: a function created anew under the name keeps its own) to
        the dead letters, leased ones too (their workers' acks then find them gone), each as `letter` makes it, in
        one transaction. Returns how many."""
        ...

    async def next_due(self, *, skip: Collection[str] = ()) -> float | None:
        """When the earliest event of a function not in `skip` becomes claimable (None if there is none)."""
        ...

    async def recover(self, now: float) -> int:
        """Register as a consumer; release the leases of consumers known to be dead. Returns how many."""
        ...

    async def depth(self) -> int:
        """How many events are queued or leased."""
        ...

    async def list_dead_letters(
        self, function_name: str | None = None, *, limit: int = 100, after: str | None = None
    ) -> list[DeadLetter]:
        """Dead letters oldest first, of one function or all; `after` is the id of the last one already seen."""
        ...

    async def get_dead_letter(self, dead_letter_id: str) -> DeadLetter:
        """Raises DeadLetterNotFoundError."""
        ...

    async def replay(self, dead_letter_id: str, now: float) -> QueuedEvent:
        """Remove a dead letter and enqueue its event again (a new request id), durably and atomically."""
        ...

    async def delete_dead_letter(self, dead_letter_id: str) -> None:
        """Raises DeadLetterNotFoundError."""
        ...

    async def upkeep(self, dead_letters_before: float | None) -> int:
        """Periodic upkeep: delete the dead letters that failed before `dead_letters_before` (retention; None keeps
        them), and whatever else the backend needs now and then. Returns how many dead letters went."""
        ...


class InvokeConfigStore(Protocol):
    """Durable EventInvokeConfigs, keyed by function name and qualifier ("$LATEST" when unqualified)."""

    async def load_invoke_configs(self) -> list[StoredInvokeConfig]: ...
    async def save_invoke_config(self, stored: StoredInvokeConfig) -> None: ...
    async def delete_invoke_config(self, function_name: str, qualifier: str | None) -> int:
        """Delete one qualifier's configuration, or every one of the function's when `qualifier` is None."""
        ...

    async def note_deletion(self, function_name: str, qualifier: str | None) -> int:
        """Record, durably, that a deletion is under way; returns its token for `end_deletion`."""
        ...

    async def end_deletion(self, token: int) -> None: ...

    async def pending_deletions(self) -> list[tuple[int, str, str | None]]:
        """(token, function name, qualifier) of every deletion noted and not ended."""
        ...


class _PendingPut:
    __slots__ = ("done", "error", "event")

    def __init__(self, event: QueuedEvent) -> None:
        self.event = event
        self.done = False
        self.error: BaseException | None = None


# Places of letters gone that are kept for paging: a page more than this many removals old starts afresh.
_GONE_KEPT: Final = 10_000


def _keep_place(db: sqlite3.Connection, dead_letter_id: str, seq: int) -> None:
    db.execute("INSERT OR REPLACE INTO dead_letters_gone (id, seq) VALUES (?, ?)", (dead_letter_id, seq))
    db.execute(
        "DELETE FROM dead_letters_gone WHERE seq < (SELECT seq FROM dead_letters_gone ORDER BY seq DESC"
        " LIMIT 1 OFFSET ?)",
        (_GONE_KEPT,),
    )


def _not_of(skip: Sequence[str]) -> str:
    """The condition that passes over the events of the functions in `skip` (one parameter each)."""
    return f"function_name NOT IN ({', '.join('?' * len(skip))})"


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _add_failed_at(db: sqlite3.Connection) -> None:
    """Dead letters get a failed_at column (from their bodies), which retention deletes by."""
    with _transaction(db):
        if "failed_at" not in _columns(db, "dead_letters"):
            db.execute("ALTER TABLE dead_letters ADD COLUMN failed_at REAL")
        db.execute(
            "UPDATE dead_letters SET failed_at = json_extract(CAST(body AS TEXT), '$.failed_at')"
            " WHERE failed_at IS NULL"
        )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # IMMEDIATE takes the write lock up front, so two writers wait on the busy timeout instead of failing with
    # SQLITE_BUSY when a read transaction tries to upgrade.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(
        private_database(path), isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S
    )
    # Before the first table (a database made earlier keeps its free pages for new rows): see `_upkeep`.
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    # Per connection: whichever one resets the log after a checkpoint cuts it back (a burst had left 94 MB).
    db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
    return db


class SqliteEventQueue:
    """The embedded queue: `async with SqliteEventQueue(data_dir) as queue:` (see the module docstring)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self._durable: sqlite3.Connection | None = None
        self._work: sqlite3.Connection | None = None
        self._durable_lock = threading.Lock()
        self._work_lock = threading.Lock()
        self._consumer_fd: int | None = None
        self._pending: list[_PendingPut] = []
        self._put_lock = anyio.Lock()
        self._events = msgspec.msgpack.Encoder()
        self._event_decoder = msgspec.msgpack.Decoder(QueuedEvent)
        self._json = msgspec.json.Encoder()
        self._letter_decoder = msgspec.json.Decoder(DeadLetter)
        self._config_decoder = msgspec.json.Decoder(StoredInvokeConfig)

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self._open)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with anyio.CancelScope(shield=True):  # close the database even when shutdown comes as a cancellation
            await anyio.to_thread.run_sync(self._close)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        durable = _connect(self.path, "FULL")
        try:
            version = durable.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} has schema version {version}; this wasmfaas knows {_SCHEMA_VERSION}")
            durable.executescript(_SCHEMA)
            if version < 3:  # (2 had a first form without events.function_name: its check runs again)
                self._migrate(durable)
            durable.execute("CREATE INDEX IF NOT EXISTS dead_letters_failed ON dead_letters (failed_at)")
            durable.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            work = _connect(self.path, "NORMAL")
        except BaseException:
            durable.close()
            raise
        self._durable, self._work = durable, work

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Schema 1 or 2 -> 3: dead letters' failed_at, and events' function_name (read from their bodies); each
        step checks first, so that it is harmless to run on a database that has it."""
        _add_failed_at(db)
        with _transaction(db):
            if "function_name" not in _columns(db, "events"):
                db.execute("ALTER TABLE events ADD COLUMN function_name TEXT NOT NULL DEFAULT ''")
            rows = db.execute("SELECT id, body FROM events WHERE function_name = ''").fetchall()
            db.executemany(
                "UPDATE events SET function_name = ? WHERE id = ?",
                [(self._event_decoder.decode(body).function_name, event_id) for event_id, body in rows],
            )

    def _close(self) -> None:
        with self._durable_lock, self._work_lock:
            for db in (self._durable, self._work):
                if db is not None:
                    db.close()
            self._durable = self._work = None
            if self._consumer_fd is not None:
                os.close(self._consumer_fd)  # releases the consumer lock
                self._consumer_fd = None

    @contextlib.contextmanager
    def _use(self, durable: bool) -> Iterator[sqlite3.Connection]:
        with self._durable_lock if durable else self._work_lock:
            db = self._durable if durable else self._work
            if db is None:
                raise PlatformClosedError(f"the event queue {self.path} is not open")
            yield db

    # -- the queue -------------------------------------------------------------------------------------------------

    async def put(self, event: QueuedEvent) -> None:
        # Group commit: whoever holds the lock commits every put waiting at that moment in one transaction; the
        # others find their put done when they get the lock.
        pending = _PendingPut(event)
        self._pending.append(pending)
        try:
            async with self._put_lock:
                if not pending.done:
                    batch, self._pending = self._pending, []
                    try:
                        await anyio.to_thread.run_sync(self._insert, [p.event for p in batch])
                    except BaseException as e:
                        for p in batch:
                            p.error = e
                        raise
                    finally:
                        for p in batch:
                            p.done = True
        except BaseException:
            if not pending.done:
                # Cancelled while waiting: the caller never heard "accepted", so the event need not be kept.
                with contextlib.suppress(ValueError):
                    self._pending.remove(pending)
            raise
        if pending.error is not None:
            raise pending.error

    def _insert(self, events: list[QueuedEvent]) -> None:
        rows = [(e.id, e.enqueued_at, self._events.encode(e), e.function_name) for e in events]
        with self._use(durable=True) as db, _transaction(db):
            # OR IGNORE makes a repeated put of the same event (a client retrying) harmless.
            db.executemany("INSERT OR IGNORE INTO events (id, due_at, body, function_name) VALUES (?, ?, ?, ?)", rows)

    async def claim(self, now: float, lease_s: float, *, skip: Collection[str] = ()) -> QueuedEvent | None:
        return await anyio.to_thread.run_sync(self._claim, now, now + lease_s, tuple(skip))

    def _claim(self, now: float, until: float, skip: tuple[str, ...]) -> QueuedEvent | None:
        passing = f" AND {_not_of(skip)}" if skip else ""
        with self._use(durable=False) as db, _transaction(db):
            rows = db.execute(
                "UPDATE events SET due_at = ?, leased = 1, deliveries = deliveries + 1"
                f" WHERE id = (SELECT id FROM events WHERE due_at <= ?{passing} ORDER BY due_at LIMIT 1)"
                " RETURNING deliveries, body",
                (until, now, *skip),
            ).fetchall()  # all rows, so the statement is finished before COMMIT
        if not rows:
            return None
        delivery, body = rows[0]
        return msgspec.structs.replace(self._event_decoder.decode(body), delivery=delivery)

    async def renew(self, events: Sequence[QueuedEvent], until: float) -> None:
        if events:
            rows = [(until, e.id, e.delivery) for e in events]
            await anyio.to_thread.run_sync(self._renew, rows)

    def _renew(self, rows: list[tuple[float, str, int]]) -> None:
        with self._use(durable=False) as db, _transaction(db):
            db.executemany("UPDATE events SET due_at = ? WHERE id = ? AND deliveries = ? AND leased = 1", rows)

    async def ack(self, event: QueuedEvent, *, then_put: QueuedEvent | None = None) -> bool:
        return await anyio.to_thread.run_sync(self._ack, event, then_put)

    def _ack(self, event: QueuedEvent, then_put: QueuedEvent | None) -> bool:
        with self._use(durable=False) as db, _transaction(db):
            if not self._delete_leased(db, event):
                return False
            if then_put is not None:
                db.execute(
                    "INSERT OR IGNORE INTO events (id, due_at, body, function_name) VALUES (?, ?, ?, ?)",
                    (then_put.id, then_put.enqueued_at, self._events.encode(then_put), then_put.function_name),
                )
            return True

    @staticmethod
    def _delete_leased(db: sqlite3.Connection, event: QueuedEvent) -> bool:
        cursor = db.execute(
            "DELETE FROM events WHERE id = ? AND deliveries = ? AND leased = 1", (event.id, event.delivery)
        )
        return cursor.rowcount == 1

    async def retry(self, event: QueuedEvent, not_before: float) -> bool:
        return await anyio.to_thread.run_sync(self._retry, event, not_before)

    def _retry(self, event: QueuedEvent, not_before: float) -> bool:
        body = self._events.encode(event)
        with self._use(durable=False) as db, _transaction(db):
            cursor = db.execute(
                "UPDATE events SET due_at = ?, leased = 0, body = ? WHERE id = ? AND deliveries = ? AND leased = 1",
                (not_before, body, event.id, event.delivery),
            )
            return cursor.rowcount == 1

    async def dead(self, event: QueuedEvent, letter: DeadLetter) -> bool:
        return await anyio.to_thread.run_sync(self._dead, event, letter)

    def _dead(self, event: QueuedEvent, letter: DeadLetter) -> bool:
        body = self._json.encode(letter)
        with self._use(durable=False) as db, _transaction(db):
            if not self._delete_leased(db, event):
                return False
            db.execute(
                "INSERT INTO dead_letters (id, function_name, body, failed_at) VALUES (?, ?, ?, ?)",
                (letter.id, letter.function_name, body, letter.failed_at),
            )
            return True

    async def bury_function(
        self,
        function_name: str,
        qualifier: str | None,
        letter: Callable[[QueuedEvent], DeadLetter],
        *,
        enqueued_before: float,
    ) -> int:
        bury = functools.partial(self._bury_function, function_name, qualifier, letter, enqueued_before)
        return await anyio.to_thread.run_sync(bury)

    def _bury_function(
        self,
        function_name: str,
        qualifier: str | None,
        letter: Callable[[QueuedEvent], DeadLetter],
        enqueued_before: float,
    ) -> int:
        with self._use(durable=False) as db, _transaction(db):
            buried = 0
            query = "SELECT id, body FROM events WHERE function_name = ?"
            candidates = db.execute(query, (function_name,)).fetchall()
            for event_id, body in candidates:
                event = self._event_decoder.decode(body)
                if (
                    event.function_name != function_name
                    or (qualifier is not None and event.qualifier != qualifier)
                    or event.enqueued_at > enqueued_before
                ):
                    continue
                dead = letter(event)
                db.execute("DELETE FROM events WHERE id = ?", (event_id,))
                db.execute(
                    "INSERT INTO dead_letters (id, function_name, body, failed_at) VALUES (?, ?, ?, ?)",
                    (dead.id, dead.function_name, self._json.encode(dead), dead.failed_at),
                )
                buried += 1
            return buried

    async def next_due(self, *, skip: Collection[str] = ()) -> float | None:
        return await anyio.to_thread.run_sync(self._next_due, tuple(skip))

    def _next_due(self, skip: tuple[str, ...]) -> float | None:
        passing = f" WHERE {_not_of(skip)}" if skip else ""
        with self._use(durable=False) as db:
            due: float | None = db.execute(f"SELECT MIN(due_at) FROM events{passing}", skip).fetchone()[0]
            return due

    async def depth(self) -> int:
        return await anyio.to_thread.run_sync(self._depth)

    def _depth(self) -> int:
        with self._use(durable=False) as db:
            count: int = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            return count

    async def recover(self, now: float) -> int:
        return await anyio.to_thread.run_sync(self._recover, now)

    def _recover(self, now: float) -> int:
        if self._consumer_fd is not None:
            return 0
        fd = os.open(f"{self.path}.consumers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alone = True
            except BlockingIOError:
                alone = False
            released = 0
            if alone:
                with self._use(durable=False) as db, _transaction(db):
                    released = db.execute(
                        "UPDATE events SET due_at = MIN(due_at, ?), leased = 0 WHERE leased = 1", (now,)
                    ).rowcount
            # Held shared for as long as this consumer lives, so the next one to start knows it is not alone.
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
        self._consumer_fd = fd
        return released

    # -- dead letters ----------------------------------------------------------------------------------------------

    async def list_dead_letters(
        self, function_name: str | None = None, *, limit: int = 100, after: str | None = None
    ) -> list[DeadLetter]:
        return await anyio.to_thread.run_sync(self._list_dead_letters, function_name, limit, after)

    def _list_dead_letters(self, function_name: str | None, limit: int, after: str | None) -> list[DeadLetter]:
        clauses, args = [], []
        if function_name is not None:
            clauses.append("function_name = ?")
            args.append(function_name)
        if after is not None:
            # A page may end at a letter that is gone since (replayed, deleted): its place is kept for that.
            clauses.append(
                "seq > COALESCE((SELECT seq FROM dead_letters WHERE id = ?),"
                " (SELECT seq FROM dead_letters_gone WHERE id = ?), 0)"
            )
            args += [after, after]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._use(durable=False) as db:
            if (
                after is not None
                and not db.execute(
                    "SELECT 1 FROM dead_letters WHERE id = ? UNION ALL SELECT 1 FROM dead_letters_gone WHERE id = ?",
                    (after, after),
                ).fetchone()
            ):
                # Not a letter that ever was (or gone so long ago that its place is forgotten): starting again
                # from the first would hand a client paging through the letters the same ones twice.
                raise InvalidParameterError("Marker", f"{after!r} is not a dead letter this queue listed")
            rows = db.execute(
                f"SELECT body FROM dead_letters {where} ORDER BY seq LIMIT ?", (*args, max(0, limit))
            ).fetchall()
        return [self._letter_decoder.decode(row[0]) for row in rows]

    async def get_dead_letter(self, dead_letter_id: str) -> DeadLetter:
        return await anyio.to_thread.run_sync(self._get_dead_letter, dead_letter_id)

    def _get_dead_letter(self, dead_letter_id: str) -> DeadLetter:
        with self._use(durable=False) as db:
            row = db.execute("SELECT body FROM dead_letters WHERE id = ?", (dead_letter_id,)).fetchone()
        if row is None:
            raise DeadLetterNotFoundError(f"Dead letter not found: {dead_letter_id}")
        return self._letter_decoder.decode(row[0])

    async def replay(self, dead_letter_id: str, now: float) -> QueuedEvent:
        return await anyio.to_thread.run_sync(self._replay, dead_letter_id, now)

    def _replay(self, dead_letter_id: str, now: float) -> QueuedEvent:
        with self._use(durable=True) as db, _transaction(db):
            row = db.execute(
                "DELETE FROM dead_letters WHERE id = ? RETURNING seq, body", (dead_letter_id,)
            ).fetchall()
            if not row:
                raise DeadLetterNotFoundError(f"Dead letter not found: {dead_letter_id}")
            _keep_place(db, dead_letter_id, row[0][0])
            letter = self._letter_decoder.decode(row[0][1])
            event = QueuedEvent(
                id=str(uuid.uuid4()),
                function_name=letter.function_name,
                qualifier=letter.qualifier,
                payload=letter.payload,
                enqueued_at=now,
            )
            db.execute(
                "INSERT INTO events (id, due_at, body, function_name) VALUES (?, ?, ?, ?)",
                (event.id, event.enqueued_at, self._events.encode(event), event.function_name),
            )
        return event

    async def delete_dead_letter(self, dead_letter_id: str) -> None:
        await anyio.to_thread.run_sync(self._delete_dead_letter, dead_letter_id)

    def _delete_dead_letter(self, dead_letter_id: str) -> None:
        with self._use(durable=False) as db, _transaction(db):
            row = db.execute("DELETE FROM dead_letters WHERE id = ? RETURNING seq", (dead_letter_id,)).fetchall()
            if not row:
                raise DeadLetterNotFoundError(f"Dead letter not found: {dead_letter_id}")
            _keep_place(db, dead_letter_id, row[0][0])

    async def upkeep(self, dead_letters_before: float | None) -> int:
        return await anyio.to_thread.run_sync(self._upkeep, dead_letters_before)

    def _upkeep(self, dead_letters_before: float | None) -> int:
        with self._use(durable=False) as db:
            gone: list[tuple[str, int]] = []
            if dead_letters_before is not None:
                with _transaction(db):
                    gone = db.execute(
                        "DELETE FROM dead_letters WHERE failed_at < ? RETURNING id, seq", (dead_letters_before,)
                    ).fetchall()
                    if gone:
                        # Their places are kept as a deletion's are: a client paging through the letters goes on.
                        db.executemany("INSERT OR REPLACE INTO dead_letters_gone (id, seq) VALUES (?, ?)", gone)
                        _keep_place(db, *max(gone, key=lambda row: row[1]))
            # A burst of large events (or expired letters) leaves free pages: past a threshold they go back to the
            # file system (databases made since auto_vacuum was set), and the WAL is cut back after them.
            free = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
            if free >= _FREE_BYTES_KEPT:
                db.executescript("PRAGMA incremental_vacuum;")  # executescript: execute() frees one page a step
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return len(gone)

    # -- EventInvokeConfigs ----------------------------------------------------------------------------------------

    async def load_invoke_configs(self) -> list[StoredInvokeConfig]:
        return await anyio.to_thread.run_sync(self._load_invoke_configs)

    def _load_invoke_configs(self) -> list[StoredInvokeConfig]:
        with self._use(durable=False) as db:
            rows = db.execute("SELECT body FROM invoke_configs ORDER BY function_name, qualifier").fetchall()
        return [self._config_decoder.decode(row[0]) for row in rows]

    async def save_invoke_config(self, stored: StoredInvokeConfig) -> None:
        await anyio.to_thread.run_sync(self._save_invoke_config, stored)

    def _save_invoke_config(self, stored: StoredInvokeConfig) -> None:
        body = self._json.encode(stored)
        with self._use(durable=True) as db, _transaction(db):
            db.execute(
                "INSERT INTO invoke_configs (function_name, qualifier, body) VALUES (?, ?, ?)"
                " ON CONFLICT (function_name, qualifier) DO UPDATE SET body = excluded.body",
                (stored.function_name, stored.qualifier, body),
            )

    async def delete_invoke_config(self, function_name: str, qualifier: str | None) -> int:
        return await anyio.to_thread.run_sync(self._delete_invoke_config, function_name, qualifier)

    def _delete_invoke_config(self, function_name: str, qualifier: str | None) -> int:
        with self._use(durable=True) as db, _transaction(db):
            if qualifier is None:
                cursor = db.execute("DELETE FROM invoke_configs WHERE function_name = ?", (function_name,))
            else:
                cursor = db.execute(
                    "DELETE FROM invoke_configs WHERE function_name = ? AND qualifier = ?", (function_name, qualifier)
                )
            return cursor.rowcount

    # -- deletions under way ---------------------------------------------------------------------------------------

    async def note_deletion(self, function_name: str, qualifier: str | None) -> int:
        return await anyio.to_thread.run_sync(self._note_deletion, function_name, qualifier)

    def _note_deletion(self, function_name: str, qualifier: str | None) -> int:
        with self._use(durable=True) as db, _transaction(db):
            cursor = db.execute(
                "INSERT INTO deletions (function_name, qualifier) VALUES (?, ?)", (function_name, qualifier)
            )
            token = cursor.lastrowid
            assert token is not None
            return token

    async def end_deletion(self, token: int) -> None:
        await anyio.to_thread.run_sync(self._end_deletion, token)

    def _end_deletion(self, token: int) -> None:
        with self._use(durable=True) as db, _transaction(db):
            db.execute("DELETE FROM deletions WHERE id = ?", (token,))

    async def pending_deletions(self) -> list[tuple[int, str, str | None]]:
        return await anyio.to_thread.run_sync(self._pending_deletions)

    def _pending_deletions(self) -> list[tuple[int, str, str | None]]:
        with self._use(durable=True) as db:
            rows: list[tuple[int, str, str | None]] = db.execute(
                "SELECT id, function_name, qualifier FROM deletions ORDER BY id"
            ).fetchall()
        return rows
