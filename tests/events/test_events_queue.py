"""The embedded event queue on its own: leases, tokens, retries, recovery, dead letters, group commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import msgspec
import pytest

from wasmfaas.errors import InvalidParameterError, PlatformClosedError
from wasmfaas.events import DeadLetter, DeadLetterNotFoundError, QueuedEvent, SqliteEventQueue
from wasmfaas.events.queue import DB_NAME

pytestmark = pytest.mark.anyio


def event(event_id: str, payload: bytes = b"{}", *, enqueued_at: float | None = None) -> QueuedEvent:
    return QueuedEvent(
        id=event_id,
        function_name="fn",
        qualifier=None,
        payload=payload,
        enqueued_at=time.time() if enqueued_at is None else enqueued_at,
    )


def letter(source: QueuedEvent, letter_id: str, *, failed_at: float | None = None) -> DeadLetter:
    return DeadLetter(
        id=letter_id,
        request_id=source.id,
        function_name=source.function_name,
        qualifier=source.qualifier,
        payload=source.payload,
        enqueued_at=source.enqueued_at,
        failed_at=time.time() if failed_at is None else failed_at,
        condition="RetriesExhausted",
        reason="test",
        attempts=3,
    )


async def test_put_claim_ack(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        assert await queue.claim(time.time(), 30) is None
        assert await queue.next_due() is None
        await queue.put(event("a", b"payload"))
        claimed = await queue.claim(time.time(), 30)
        assert claimed is not None
        assert (claimed.id, claimed.payload, claimed.delivery) == ("a", b"payload", 1)
        assert await queue.claim(time.time(), 30) is None  # leased
        assert await queue.depth() == 1
        assert await queue.ack(claimed)
        assert await queue.depth() == 0
        assert not await queue.ack(claimed)  # once only


async def test_events_are_claimed_oldest_first_and_put_is_idempotent(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        t = time.time()
        await queue.put(event("second", enqueued_at=t - 1))
        await queue.put(event("first", enqueued_at=t - 2))
        await queue.put(event("first", b"again", enqueued_at=t - 2))
        assert await queue.depth() == 2
        first = await queue.claim(t, 30)
        second = await queue.claim(t, 30)
        assert first is not None and second is not None
        assert (first.id, first.payload, second.id) == ("first", b"{}", "second")


async def test_an_expired_lease_makes_the_event_claimable_again_and_voids_the_old_token(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        await queue.put(event("a"))
        stale = await queue.claim(time.time(), 0.1)
        assert stale is not None
        assert await queue.claim(time.time(), 0.1) is None
        await anyio.sleep(0.15)
        fresh = await queue.claim(time.time(), 30)
        assert fresh is not None and fresh.delivery == 2
        # The first worker's lease was taken over: nothing it does counts any more.
        assert not await queue.ack(stale)
        assert not await queue.retry(stale, time.time())
        assert not await queue.dead(stale, letter(stale, "l"))
        assert await queue.list_dead_letters() == []
        assert await queue.ack(fresh)


async def test_renew_keeps_a_lease(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        await queue.put(event("a"))
        claimed = await queue.claim(time.time(), 0.1)
        assert claimed is not None
        await queue.renew([claimed], time.time() + 30)
        await anyio.sleep(0.15)
        assert await queue.claim(time.time(), 30) is None
        assert await queue.ack(claimed)


async def test_retry_stores_the_new_counters_and_waits_until_not_before(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        await queue.put(event("a"))
        claimed = await queue.claim(time.time(), 30)
        assert claimed is not None
        not_before = time.time() + 0.2
        assert await queue.retry(msgspec.structs.replace(claimed, attempts=1), not_before)
        assert await queue.next_due() == pytest.approx(not_before)
        assert await queue.claim(time.time(), 30) is None
        again = await queue.claim(not_before, 30)
        assert again is not None
        assert (again.attempts, again.delivery) == (1, 2)


async def test_ack_enqueues_the_follow_up_in_the_same_transaction(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        await queue.put(event("a"))
        claimed = await queue.claim(time.time(), 30)
        assert claimed is not None
        assert await queue.ack(claimed, then_put=event("b"))
        follow_up = await queue.claim(time.time(), 30)
        assert follow_up is not None and follow_up.id == "b"
        # A lost lease enqueues nothing.
        assert not await queue.ack(claimed, then_put=event("c"))
        assert await queue.depth() == 1


async def test_a_starting_consumer_releases_the_leases_of_a_dead_one(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as dead_consumer:
        await dead_consumer.recover(time.time())
        await dead_consumer.put(event("a"))
        assert await dead_consumer.claim(time.time(), 3600) is not None
    # The consumer is gone (its lock with it) and its lease has an hour to run.
    async with SqliteEventQueue(tmp_path) as consumer:
        assert await consumer.claim(time.time(), 30) is None
        assert await consumer.recover(time.time()) == 1
        reclaimed = await consumer.claim(time.time(), 30)
        assert reclaimed is not None and reclaimed.delivery == 2


async def test_a_starting_consumer_leaves_the_leases_of_a_live_one_alone(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as live, SqliteEventQueue(tmp_path) as starting:
        assert await live.recover(time.time()) == 0
        await live.put(event("a"))
        assert await live.claim(time.time(), 3600) is not None
        assert await starting.recover(time.time()) == 0
        assert await starting.claim(time.time(), 30) is None


async def test_concurrent_puts_share_commits_and_all_land(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        commits = 0
        insert = queue._insert

        def counting_insert(events: list[QueuedEvent]) -> None:
            nonlocal commits
            commits += 1
            insert(events)

        queue._insert = counting_insert  # type: ignore[method-assign]
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(queue.put, event(f"e{i}"))
        assert await queue.depth() == 200
        assert commits < 200  # puts that arrived together were committed together
    # Committed for real: visible from a fresh connection.
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 200
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


async def test_dead_letters_are_moved_listed_replayed_and_deleted(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        for name in ("a", "b", "c"):
            await queue.put(event(name, name.encode()))
            claimed = await queue.claim(time.time(), 30)
            assert claimed is not None
            assert await queue.dead(claimed, letter(claimed, f"dl-{name}"))
        assert await queue.depth() == 0
        letters = await queue.list_dead_letters()
        assert [dl.id for dl in letters] == ["dl-a", "dl-b", "dl-c"]
        assert [dl.id for dl in await queue.list_dead_letters(limit=1, after="dl-a")] == ["dl-b"]
        assert await queue.list_dead_letters("other") == []
        assert await queue.get_dead_letter("dl-b") == letters[1]

        replayed = await queue.replay("dl-b", time.time())
        assert (replayed.function_name, replayed.payload, replayed.attempts) == ("fn", b"b", 0)
        assert replayed.id != "b"
        claimed = await queue.claim(time.time(), 30)
        assert claimed is not None and claimed.id == replayed.id
        with pytest.raises(DeadLetterNotFoundError):
            await queue.replay("dl-b", time.time())

        # A page that ended at a letter gone since goes on after its place, not from the start again.
        assert [dl.id for dl in await queue.list_dead_letters(after="dl-b")] == ["dl-c"]
        await queue.delete_dead_letter("dl-a")
        assert [dl.id for dl in await queue.list_dead_letters(after="dl-a")] == ["dl-c"]
        assert [dl.id for dl in await queue.list_dead_letters()] == ["dl-c"]
        with pytest.raises(InvalidParameterError, match="Marker"):  # not the first page again: an error
            await queue.list_dead_letters(after="never-listed")
        with pytest.raises(DeadLetterNotFoundError):
            await queue.get_dead_letter("dl-a")


async def _bury(queue: SqliteEventQueue, name: str, failed_at: float) -> None:
    await queue.put(event(name))
    claimed = await queue.claim(time.time(), 30)
    assert claimed is not None
    assert await queue.dead(claimed, letter(claimed, f"dl-{name}", failed_at=failed_at))


async def test_a_claim_can_pass_over_busy_functions(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        t = time.time()
        await queue.put(event("a1", enqueued_at=t - 3))
        await queue.put(event("a2", enqueued_at=t - 2))
        await queue.put(msgspec.structs.replace(event("b1", enqueued_at=t - 1), function_name="other"))
        first = await queue.claim(t, 30, skip=["fn"])
        assert first is not None and first.id == "b1"  # the oldest event of a function not passed over
        assert await queue.claim(t, 30, skip=["fn"]) is None
        second = await queue.claim(t, 30)
        assert second is not None and second.id == "a1"


async def test_dead_letters_past_their_retention_are_deleted(tmp_path: Path) -> None:
    now = time.time()
    async with SqliteEventQueue(tmp_path) as queue:
        for name, age in (("old", 3600.0), ("older", 7200.0), ("new", 10.0)):
            await _bury(queue, name, now - age)
        assert await queue.upkeep(None) == 0
        assert await queue.upkeep(now - 86400) == 0
        assert await queue.upkeep(now - 1800) == 2
        assert [dl.id for dl in await queue.list_dead_letters()] == ["dl-new"]
        # A client that had paged up to an expired letter goes on after its place.
        assert [dl.id for dl in await queue.list_dead_letters(after="dl-old")] == ["dl-new"]
        with pytest.raises(DeadLetterNotFoundError):
            await queue.get_dead_letter("dl-older")


async def test_upkeep_gives_a_burst_s_space_back(tmp_path: Path) -> None:
    db_path = tmp_path / DB_NAME
    async with SqliteEventQueue(tmp_path) as queue:
        for n in range(80):  # a burst of 80 MB of events, then all run and gone
            await queue.put(event(f"e{n}", b"x" * 1_000_000))
        for _ in range(80):
            claimed = await queue.claim(time.time(), 30)
            assert claimed is not None and await queue.ack(claimed)
        assert db_path.stat().st_size > 70_000_000
        await queue.upkeep(None)
        sizes = db_path.stat().st_size, Path(f"{db_path}-wal").stat().st_size
        assert sizes[0] < 2_000_000 and sizes[1] <= 16 * 1024 * 1024, sizes


async def test_the_write_ahead_log_is_cut_back_after_a_burst_whoever_writes(tmp_path: Path) -> None:
    # A reader's snapshot stops checkpoints from resetting the log, so a burst grows it; claims and acks (the
    # working connection) must cut it back to the limit afterwards too, not only puts (94 MB had stayed).
    wal = Path(f"{tmp_path / DB_NAME}-wal")
    async with SqliteEventQueue(tmp_path) as queue:
        reader = sqlite3.connect(tmp_path / DB_NAME)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()  # holds its snapshot until the rollback
        for n in range(30):
            await queue.put(event(f"e{n}", b"x" * 1_000_000))
        for _ in range(25):
            claimed = await queue.claim(time.time(), 30)
            assert claimed is not None and await queue.ack(claimed)
        assert wal.stat().st_size > 30_000_000
        reader.rollback()
        reader.close()
        for _ in range(5):
            claimed = await queue.claim(time.time(), 30)
            assert claimed is not None and await queue.ack(claimed)
        assert wal.stat().st_size <= 16 * 1024 * 1024, wal.stat().st_size


@pytest.mark.parametrize("version", [1, 2])
async def test_an_older_queue_is_migrated(tmp_path: Path, version: int) -> None:
    now = time.time()
    async with SqliteEventQueue(tmp_path) as queue:
        await _bury(queue, "kept", now - 100)
        await _bury(queue, "expiring", now - 5000)
        await queue.put(event("queued"))
    # As a wasmfaas before retention left it: no failed_at column, no events.function_name; schema 1, or 2 as a
    # development version of 2 left it (with failed_at, which the steps check for, so it is taken away here too).
    db = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    db.executescript(
        f"""
        BEGIN;
        CREATE TABLE v1 (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                         function_name TEXT NOT NULL, body BLOB NOT NULL);
        INSERT INTO v1 SELECT seq, id, function_name, body FROM dead_letters;
        DROP TABLE dead_letters;
        ALTER TABLE v1 RENAME TO dead_letters;
        CREATE INDEX dead_letters_function ON dead_letters (function_name, seq);
        CREATE TABLE e1 (id TEXT PRIMARY KEY, due_at REAL NOT NULL, leased INTEGER NOT NULL DEFAULT 0,
                         deliveries INTEGER NOT NULL DEFAULT 0, body BLOB NOT NULL);
        INSERT INTO e1 SELECT id, due_at, leased, deliveries, body FROM events;
        DROP TABLE events;
        ALTER TABLE e1 RENAME TO events;
        PRAGMA user_version={version};
        COMMIT;
        """
    )
    db.close()
    async with SqliteEventQueue(tmp_path) as queue:
        assert await queue.upkeep(now - 1000) == 1
        assert [dl.id for dl in await queue.list_dead_letters()] == ["dl-kept"]
        assert await queue.claim(time.time(), 30, skip=["fn"]) is None  # its function name was read from its body
        queued = await queue.claim(time.time(), 30)
        assert queued is not None and queued.id == "queued"
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    db.close()


async def test_a_closed_queue_says_so(tmp_path: Path) -> None:
    queue = SqliteEventQueue(tmp_path)
    with pytest.raises(PlatformClosedError):
        await queue.claim(time.time(), 30)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path):
        pass
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        async with SqliteEventQueue(tmp_path):
            pass


async def test_bury_function_takes_its_events_leased_or_not(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path) as queue:
        await queue.put(event("waiting"))
        await queue.put(msgspec.structs.replace(event("versioned"), qualifier="1"))
        await queue.put(msgspec.structs.replace(event("other"), function_name="other"))
        await queue.put(event("running", enqueued_at=time.time() - 10))
        running = await queue.claim(time.time(), 30)
        assert running is not None and running.id == "running"
        deleted_at = time.time()
        await queue.put(event("successor's", enqueued_at=deleted_at + 1))  # after the deletion: a new function's
        dead = lambda e: letter(e, f"dead-{e.id}")  # noqa: E731
        assert await queue.bury_function("fn", "2", dead, enqueued_before=deleted_at) == 0
        assert await queue.bury_function("fn", "1", dead, enqueued_before=deleted_at) == 1
        assert await queue.bury_function("fn", None, dead, enqueued_before=deleted_at) == 2
        assert {d.request_id for d in await queue.list_dead_letters("fn")} == {"waiting", "versioned", "running"}
        assert not await queue.ack(running)  # its worker finds it gone
        assert await queue.depth() == 2  # "other" and the successor's stay


async def test_the_queue_is_its_owners_only(tmp_path: Path) -> None:
    async with SqliteEventQueue(tmp_path):
        pass
    assert (tmp_path / "events.sqlite3").stat().st_mode & 0o777 == 0o600  # events' payloads
