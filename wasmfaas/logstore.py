"""The log store: every invocation's framed log (START / lines / END / REPORT), kept per function and queryable.

    async with LogStore(data_dir) as logs:
        logs.append(result)                                   # from the invoke path: never blocks, never fsyncs
        recent = await logs.query("fn", since=time.time() - 600, limit=50)
        page = await logs.wait("fn", after=last_id, timeout=20)   # a long poll: entries after an id, or wait
        async for entry in logs.follow("fn"):                 # the backlog, then new entries as they arrive
            print(entry.text, end="")

Entries live in `<data_dir>/logs.sqlite3` (WAL, `synchronous=NORMAL`), unframed: the guest's output plus the
figures of its REPORT line, framed (START / END / REPORT, by `InvocationResult.log`) when read, which is rare, rather
than on every invocation, where formatting cost ~8 % of a busy server's throughput. `append` puts the entry on an
in-memory list; one writer task takes whatever has gathered and commits it on a worker thread in one transaction of
a few multi-row statements, so logging adds neither a disk write nor a thread hop to an invocation, and a burst of
invocations costs one commit. (Rows written before entries were kept unframed hold their framed text.)
If the writer falls behind by more than `buffer` entries (or `buffer_bytes` of text), further entries are dropped
and counted (`dropped`, and a warning once a minute) rather than slowing invocations down or filling memory; `put`
waits for room instead, for a log that must be kept. `flush()` waits until everything appended so far is committed.

Retention: per function, at most `max_entries` entries and `max_bytes` of text, the oldest pruned first. Pruning
waits until a function is 10% over a bound and then deletes down to it in one statement, so it runs once per many
appends, not on each.

Followers wake on each commit of this store (an anyio Event, no polling); a writer in another process is noticed
within `poll_interval`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, Self, cast

import anyio
import anyio.abc
import anyio.to_thread
import msgspec

from ._files import private_database
from .errors import InvalidParameterError, PlatformClosedError
from .results import InvocationResult

__all__ = ["DB_NAME", "LogEntry", "LogStore"]

logger = logging.getLogger("wasmfaas.logstore")

DB_NAME: Final = "logs.sqlite3"
_FOLLOW_PAGE: Final = 1000
# At most this long between commits while entries keep coming (flush() does not wait for it). Each commit's thread
# hand-offs cost the event loop's thread more than its rows do: a busy server did 3-4 % more Invokes/s at 0.1 s
# than at 0.01 s.
_GATHER_SECONDS: Final = 0.1
_DROP_WARNING_S: Final = 60.0  # at most one warning of dropped entries this often

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order of arrival; a follower's cursor
    function_name TEXT NOT NULL,
    request_id TEXT NOT NULL,
    version TEXT NOT NULL,
    timestamp REAL NOT NULL,
    size INTEGER NOT NULL,                 -- bytes of text (framing estimated), for the retention bound
    text TEXT NOT NULL,                    -- the guest's output; or, where report is NULL, the framed log
    report BLOB                            -- JSON [duration ms, memory MB, max memory MB, init ms, fuel]
);
CREATE INDEX IF NOT EXISTS logs_function ON logs (function_name, id);
"""
_COLUMNS: Final = "id, function_name, request_id, version, timestamp, text, report"
_WAL_LIMIT: Final = 16 * 1024 * 1024
# Rows per INSERT statement: 7 parameters each, well inside SQLite's bound on parameters (32766).
_ROWS_PER_INSERT: Final = 256
_INSERT_PREFIX: Final = "INSERT INTO logs (function_name, request_id, version, timestamp, size, text, report) VALUES "


def _insert_sql(rows: int) -> str:
    return _INSERT_PREFIX + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)


_INSERT_FULL: Final = _insert_sql(_ROWS_PER_INSERT)


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One invocation's log: `text` is the framed log, `timestamp` when it was appended (Unix seconds)."""

    id: int
    function_name: str
    request_id: str
    version: str
    timestamp: float
    text: str


# Pending rows lie flat in one list, _ROW_WIDTH values each: (function_name, request_id, version, timestamp, size,
# text, report). An INSERT takes a slice of it as its parameters as it is, so the writer thread runs no Python per
# row while it holds the GIL -- time the event loop's thread would spend waiting for it.
_Values = list[str | float | int | bytes]
_ROW_WIDTH: Final = 7
_SIZE: Final = 4  # the size's place in a row
# START / END / REPORT around the guest's output come to about this many bytes; entries are stored unframed (the
# framing is rebuilt on reading), so an entry's size for the retention bound counts this estimate for it.
_FRAMING_BYTES: Final = 240
_REPORT: Final = msgspec.json.Encoder()


def _names(rows: _Values) -> list[str]:
    return cast(list[str], rows[::_ROW_WIDTH])


def _sizes(rows: _Values) -> list[int]:
    return cast(list[int], rows[_SIZE::_ROW_WIDTH])


class LogStore:
    """Per-function invocation logs in `<data_dir>/logs.sqlite3`; use as `async with LogStore(data_dir) as logs:`.

    - `max_entries` / `max_bytes`: the retention bound per function (entries, bytes of text).
    - `buffer` / `buffer_bytes`: entries (and bytes of text, estimated as the guest's log plus the framing) that
      may wait for the writer before new ones are dropped.
    - `poll_interval`: how often a follower looks for entries written by another process.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 32 * 1024 * 1024,
        buffer: int = 10_000,
        buffer_bytes: int = 64 * 1024 * 1024,
        poll_interval: float = 1.0,
    ) -> None:
        if min(max_entries, max_bytes, buffer, buffer_bytes) < 1:
            raise InvalidParameterError("max_entries", "max_entries, max_bytes, buffer and buffer_bytes must be >= 1")
        self.path = Path(data_dir) / DB_NAME
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._buffer = buffer
        self._buffer_bytes = buffer_bytes
        self._pending_bytes = 0
        self._poll_interval = max(poll_interval, 0.1)
        # The writer has its own connection; readers share another (WAL lets them read while it commits).
        self._writer_db: sqlite3.Connection | None = None
        self._reader_db: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._pending: _Values = []
        self._accepting = False
        self._arrived = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._committed = anyio.Event()
        self._gather = anyio.Event()
        self._flushing = 0
        self._appended = 0
        self._written = 0
        self.dropped = 0
        self._warned_at = -_DROP_WARNING_S
        # Per function [entries, bytes], kept on the event loop's thread to know when to prune without asking the
        # database; `_over` names the functions past a bound (plus slack) since the last commit.
        self._tally: dict[str, list[int]] = {}
        self._over: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self._open)
        self._accepting = True
        self._tg = await anyio.create_task_group().__aenter__()
        self._tg.start_soon(self._write_forever)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        accepting, self._accepting = self._accepting, False
        tg, self._tg = self._tg, None
        if accepting:
            self._arrived.set()  # the writer commits what is left, then ends
            self._gather.set()
        if tg is not None:
            await tg.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):  # close the database even when shutdown comes as a cancellation
            await anyio.to_thread.run_sync(self._close)

    def _open(self) -> None:
        try:
            self._connect()
        except sqlite3.DatabaseError as e:
            if "malformed" not in str(e) and "not a database" not in str(e):
                raise
            # Logs are a record, not the functions: a store damaged outside wasmfaas (a disk error, a truncated
            # copy) is set aside, and the server starts with a new one rather than not at all.
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            logger.error("the log store %s is damaged (%s): moved to %s, starting a new one", self.path, e, aside)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            self._connect()

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = sqlite3.connect(
            private_database(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        try:
            # Pages freed by a deleted function's logs go back to the file system (incremental vacuum, set before
            # the first table: a store made earlier keeps its pages for new entries), and a checkpointed WAL is cut
            # back: a store's files had stayed at 216 MB and 49 MB after the chatty functions were gone.
            writer.execute("PRAGMA auto_vacuum=INCREMENTAL")
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA synchronous=NORMAL")
            writer.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
            writer.executescript(_SCHEMA)
            columns = {row[1] for row in writer.execute("PRAGMA table_info(logs)")}
            if "report" not in columns:  # a store written before entries were kept unframed: its rows stay framed
                writer.execute("ALTER TABLE logs ADD COLUMN report BLOB")
            rows = writer.execute("SELECT function_name, COUNT(*), SUM(size) FROM logs GROUP BY function_name")
            self._tally = {name: [count, size] for name, count, size in rows}
            reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        except BaseException:
            writer.close()
            raise
        self._writer_db, self._reader_db = writer, reader

    def _close(self) -> None:
        with self._reader_lock:
            for db in (self._writer_db, self._reader_db):
                if db is not None:
                    db.close()
            self._writer_db = self._reader_db = None

    # -- writing ---------------------------------------------------------------------------------------------------

    def append(self, result: InvocationResult) -> bool:
        """Queue an invocation's log for the writer; call from the event loop's thread. Never blocks: False if the
        writer is too far behind and the entry was dropped (counted in `dropped`, and warned of once a minute)."""
        entry = self._entry(result)
        if not self._room(entry[4]):
            self.dropped += 1
            now = time.monotonic()
            if now - self._warned_at >= _DROP_WARNING_S:
                self._warned_at = now
                logger.warning(
                    "the log writer is behind (a disk too slow for the functions' output?): %d log entries dropped "
                    "so far",
                    self.dropped,
                )
            return False
        self._add(entry)
        return True

    async def put(self, result: InvocationResult) -> None:
        """Queue an invocation's log, waiting for the writer to make room if it is behind: for a log that must be
        kept (an Event invocation is acknowledged once its log is committed, see `flush`)."""
        entry = self._entry(result)
        while not self._room(entry[4]) and self._pending and self._tg is not None:
            self._gather.set()  # commit now
            await self._committed.wait()
        if not self._accepting:  # closed while it waited: nothing would write it
            raise PlatformClosedError("the log store closed")
        self._add(entry)

    def _entry(self, result: InvocationResult) -> tuple[str, str, str, float, int, str, bytes]:
        if not self._accepting:
            raise PlatformClosedError("use the LogStore inside `async with LogStore(data_dir) as logs:`")
        init = result.init_log.decode("utf-8", "replace") if result.init_log else ""  # warm runs have none
        guest = result.guest_log
        report = _REPORT.encode(
            (
                result.duration_ms,
                result.memory_size_mb,
                result.max_memory_used_mb,
                result.init_duration_ms,
                result.fuel_consumed,
                len(init),
            )
        )
        size = len(init) + len(guest) + _FRAMING_BYTES
        text = init + guest.decode("utf-8", "replace")
        return result.function_name, result.request_id, result.executed_version, time.time(), size, text, report

    def _room(self, size: int) -> bool:
        return self._pending_bytes + size <= self._buffer_bytes and len(self._pending) < self._buffer * _ROW_WIDTH

    def _add(self, entry: tuple[str, str, str, float, int, str, bytes]) -> None:
        self._pending += entry
        self._appended += 1
        name, size = entry[0], entry[4]
        self._pending_bytes += size
        tally = self._tally.get(name)
        if tally is None:
            tally = self._tally[name] = [0, 0]
        tally[0] += 1
        tally[1] += size
        if tally[0] > self._slack(self.max_entries) or tally[1] > self._slack(self.max_bytes):
            self._over.add(name)
        arrived = self._arrived
        if not arrived.is_set():
            arrived.set()

    async def flush(self) -> None:
        """Wait until every entry appended before this call is committed."""
        target = self._appended
        self._flushing += 1
        try:
            while self._written < target and self._tg is not None:
                self._gather.set()  # the writer commits now, without waiting for more entries
                await self._committed.wait()
        finally:
            self._flushing -= 1

    async def _write_forever(self) -> None:
        try:
            while True:
                await self._arrived.wait()
                self._arrived = anyio.Event()
                batch, self._pending = self._pending, []
                if batch:
                    with anyio.CancelScope(shield=True):  # the batch has left _pending: it must land or be counted
                        await self._commit(batch)
                if not self._accepting and not self._pending:
                    return
                # Under a steady stream of invocations, let entries gather for a moment before the next commit
                # (unless someone waits in flush()): otherwise each commit would take only the one or two that
                # arrived while the last one ran, and the per-commit cost would dominate.
                if not self._flushing and self._accepting:
                    self._gather = anyio.Event()
                    with anyio.move_on_after(_GATHER_SECONDS):
                        await self._gather.wait()
        finally:
            # Cancelled: what is still buffered was appended before the shutdown, so commit it too.
            rest, self._pending = self._pending, []
            if rest:
                with anyio.CancelScope(shield=True):
                    await self._commit(rest)

    async def _commit(self, batch: _Values) -> None:
        # What the tally says of each function over a bound, as of this batch: the database holds exactly that
        # once the batch is in (later entries are still pending).
        over = {name: (self._tally[name][0], self._tally[name][1]) for name in self._over if name in self._tally}
        self._over = set()
        try:
            removed = await anyio.to_thread.run_sync(self._insert, batch, over)
        except Exception:
            # A full disk or a locked database must not take the server down: the batch is lost, and logged.
            logger.exception("dropped %d log entries", len(batch) // _ROW_WIDTH)
            self.dropped += len(batch) // _ROW_WIDTH
            removed = {}
            for name, size in zip(_names(batch), _sizes(batch), strict=True):
                tally = self._tally.get(name)
                if tally is not None:
                    tally[0] -= 1
                    tally[1] -= size
        for name, (count, size) in removed.items():
            if name in self._tally:
                self._tally[name][0] -= count
                self._tally[name][1] -= size
        self._written += len(batch) // _ROW_WIDTH
        self._pending_bytes -= sum(_sizes(batch))
        committed, self._committed = self._committed, anyio.Event()
        committed.set()

    def _insert(self, batch: _Values, over: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """Insert the rows and prune the functions `over` a bound, in one transaction; returns what pruning took
        off each function's tally (entries, bytes)."""
        db = self._writer_db
        assert db is not None
        # Many rows per statement: the thread releases and retakes the GIL once a statement. sqlite3's executemany
        # would do so for every row, and each hand-off can cost the event loop's thread a wait for the GIL.
        with _transaction(db):
            step = _ROWS_PER_INSERT * _ROW_WIDTH
            for start in range(0, len(batch), step):
                chunk = batch[start : start + step]
                rows = len(chunk) // _ROW_WIDTH
                db.execute(_INSERT_FULL if rows == _ROWS_PER_INSERT else _insert_sql(rows), chunk)
            return {name: self._prune(db, name, *tally) for name, tally in over.items()}

    @staticmethod
    def _slack(bound: int) -> int:
        return bound + max(1, math.ceil(bound / 10))

    def _prune(self, db: sqlite3.Connection, name: str, count: int, size: int) -> tuple[int, int]:
        """Delete the function's oldest entries down to both bounds, given its tally (entries, bytes); returns how
        much the tally must drop: what was deleted, or its error if there was nothing to delete."""
        # The newest entry that falls outside a bound: everything up to it goes. (Each bound's query runs only
        # when the function is over it: the one over bytes sums a window over all of the function's entries.)
        by_count = (
            db.execute(
                "SELECT id FROM logs WHERE function_name = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                (name, self.max_entries),
            ).fetchone()
            if count > self.max_entries
            else None
        )
        by_size = (
            db.execute(
                "SELECT id FROM (SELECT id, SUM(size) OVER (ORDER BY id DESC) AS total FROM logs"
                " WHERE function_name = ?) WHERE total > ? ORDER BY id DESC LIMIT 1",
                (name, self.max_bytes),
            ).fetchone()
            if size > self.max_bytes
            else None
        )
        cut = max((row[0] for row in (by_count, by_size) if row is not None), default=None)
        if cut is None:  # the tally ran ahead of the table (entries deleted meanwhile): correct it
            true_count, true_size = self._totals(db, name)
            return count - true_count, size - true_size
        removed: tuple[int, int] = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM logs WHERE function_name = ? AND id <= ?", (name, cut)
        ).fetchone()
        db.execute("DELETE FROM logs WHERE function_name = ? AND id <= ?", (name, cut))
        return removed

    @staticmethod
    def _totals(db: sqlite3.Connection, name: str) -> tuple[int, int]:
        count, size = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM logs WHERE function_name = ?", (name,)
        ).fetchone()
        return count, size

    # -- reading ---------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._reader_lock:
            if self._reader_db is None:
                raise PlatformClosedError("the log store is closed")
            yield self._reader_db

    async def query(
        self, function_name: str | None, *, since: float | None = None, limit: int = 100
    ) -> list[LogEntry]:
        """The newest `limit` entries (of one function, or all when None) appended at or after `since`, oldest
        first."""
        entries, _ = await anyio.to_thread.run_sync(self._tail, function_name, since, limit)
        return entries

    async def tail(self, function_name: str | None, limit: int) -> tuple[list[LogEntry], int]:
        """The newest `limit` entries, oldest first, and the id to read on `after` (the newest of all functions:
        a follower starting here sees only entries appended from now on, even with `limit` 0)."""
        return await anyio.to_thread.run_sync(self._tail, function_name, None, limit)

    def _tail(self, function_name: str | None, since: float | None, limit: int) -> tuple[list[LogEntry], int]:
        clauses, args = _filters(function_name, since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reader() as db:
            db.execute("BEGIN")  # one snapshot for both reads
            try:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM logs {where} ORDER BY id DESC LIMIT ?", (*args, max(0, limit))
                ).fetchall()
                last_id: int = db.execute("SELECT COALESCE(MAX(id), 0) FROM logs").fetchone()[0]
            finally:
                db.execute("COMMIT")
        return [_entry(row) for row in reversed(rows)], last_id

    async def read(self, function_name: str | None, *, after: int = 0, limit: int = 1000) -> list[LogEntry]:
        """Up to `limit` entries with an id above `after`, oldest first: a poller's page ("everything after N"),
        which never misses or repeats an entry still kept."""
        return await anyio.to_thread.run_sync(self._after, function_name, after, limit)

    def _after(self, function_name: str | None, after_id: int, limit: int = _FOLLOW_PAGE) -> list[LogEntry]:
        clauses, args = _filters(function_name, None)
        clauses.append("id > ?")
        with self._reader() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM logs WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
                (*args, after_id, max(0, limit)),
            ).fetchall()
        return [_entry(row) for row in rows]

    async def wait(
        self, function_name: str | None, *, after: int = 0, limit: int = 1000, timeout: float = 0.0
    ) -> list[LogEntry]:
        """`read`, but when nothing is there yet wait up to `timeout` seconds for an entry (a long poll); [] if
        none came."""
        deadline = anyio.current_time() + timeout
        while True:
            # Take the Event before reading, so a commit that lands during the read wakes the wait below.
            committed = self._committed
            entries = await self.read(function_name, after=after, limit=limit)
            remaining = deadline - anyio.current_time()
            if entries or remaining <= 0:
                return entries
            with anyio.move_on_after(min(remaining, self._poll_interval)):
                await committed.wait()

    async def follow(
        self, function_name: str | None, *, since: float | None = None, backlog: int = 100
    ) -> AsyncGenerator[LogEntry, None]:
        """Yield the newest `backlog` entries at or after `since`, then every new entry as it is committed."""
        entries, cursor = await anyio.to_thread.run_sync(self._tail, function_name, since, backlog)
        for entry in entries:
            yield entry
        while True:
            # Take the Event before reading, so a commit that lands during the read wakes the next wait.
            committed = self._committed
            entries = await anyio.to_thread.run_sync(self._after, function_name, cursor)
            for entry in entries:
                yield entry
            if entries:
                cursor = entries[-1].id
                continue
            with anyio.move_on_after(self._poll_interval):
                await committed.wait()

    async def delete(self, function_name: str) -> int:
        """Remove a function's entries (when the function is deleted); returns how many."""
        await self.flush()
        removed = await anyio.to_thread.run_sync(self._delete, function_name)
        self._tally.pop(function_name, None)  # entries appended since the flush are counted afresh
        return removed

    def _delete(self, function_name: str) -> int:
        with self._reader() as db:
            with _transaction(db):
                removed: int = db.execute("DELETE FROM logs WHERE function_name = ?", (function_name,)).rowcount
            # The freed pages back to the file system (stores made since auto_vacuum was set), through the WAL.
            db.executescript("PRAGMA incremental_vacuum;")  # executescript: execute() frees one page a step
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        # Also when COMMIT itself failed (a full disk): SQLite may keep the transaction open, and every later
        # BEGIN would fail while it holds the write lock.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _filters(function_name: str | None, since: float | None) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if function_name is not None:
        clauses.append("function_name = ?")
        args.append(function_name)
    if since is not None:
        clauses.append("timestamp >= ?")
        args.append(since)
    return clauses, args


# [duration ms, memory MB, max memory MB, init ms, fuel, and since the init's lines come before START: their length
# (characters at the start of the text)]
_REPORT_FIELDS: Final = msgspec.json.Decoder(list[float | None])


def _entry(row: tuple[int, str, str, str, float, str, str | bytes | None]) -> LogEntry:
    entry_id, function_name, request_id, version, timestamp, text, report = row
    if report is not None:  # stored unframed: frame it as the invocation result would
        duration, memory, max_memory, init, fuel, *rest = _REPORT_FIELDS.decode(report)
        split = int(rest[0]) if rest and rest[0] else 0
        text = InvocationResult(
            request_id=request_id,
            function_name=function_name,
            executed_version=version,
            payload=b"",
            function_error=None,
            cold_start=init is not None,
            duration_ms=duration or 0.0,
            init_duration_ms=init,
            memory_size_mb=int(memory or 0),
            max_memory_used_mb=int(max_memory or 0),
            fuel_consumed=None if fuel is None else int(fuel),
            guest_log=text[split:].encode(),
            init_log=text[:split].encode(),
        ).log
    return LogEntry(
        id=entry_id,
        function_name=function_name,
        request_id=request_id,
        version=version,
        timestamp=timestamp,
        text=text,
    )
