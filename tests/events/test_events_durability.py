"""Durability: events survive `kill -9` of the process that accepted them, and of the one that was running them.

A child process (durability_child.py) accepts or runs events and dies by SIGKILL: no cleanup, no flush, no lease
handed back. Then a new platform on the same data directory must run every accepted event (at least once).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import msgspec
import pytest
from events_stack import StackFactory

from wasmfaas.events import SqliteEventQueue

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).with_name("durability_child.py")


def start_child(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_events_accepted_before_a_kill_9_run_after_the_restart(
    stack: StackFactory, data_dir: Path, guest: Callable[[str], bytes], tmp_path: Path
) -> None:
    wasm = tmp_path / "recorder.wasm"
    wasm.write_bytes(guest("recorder"))
    child = start_child("submit", data_dir, wasm, 20)
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err
    accepted = out.split()
    assert len(accepted) == 20  # every one of these was acknowledged before the kill

    # The persistent platform brings "rec" back; the queue still holds every event, none has run.
    async with stack(persistent=True) as s:
        seen = await s.lines("rec", "EVENT ", 20)
        assert sorted(msgspec.json.decode(line)["n"] for line in seen) == list(range(20))
        await s.settled()
        assert await s.events.list_dead_letters() == []


async def test_an_event_running_when_the_process_is_killed_runs_again_after_the_restart(
    stack: StackFactory, data_dir: Path, guest: Callable[[str], bytes], tmp_path: Path
) -> None:
    wasm = tmp_path / "sleep.wasm"
    wasm.write_bytes(guest("sleep"))
    child = start_child("run", data_dir, wasm)
    try:
        assert child.stdout is not None
        with anyio.fail_after(120):
            line = await anyio.to_thread.run_sync(child.stdout.readline)
        request_id = line.strip()
        assert request_id, child.stderr.read() if child.stderr else ""
        # The event is claimed (leased for 60 s) and its guest is sleeping: kill -9 now.
        await anyio.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    async with SqliteEventQueue(data_dir) as queue:
        assert await queue.claim(time.time(), 1) is None  # still leased to the dead process
        assert await queue.depth() == 1

    # Restart with "work" now recording its event instead of sleeping. The new consumer finds itself alone and
    # releases the dead one's lease at once, instead of waiting out the 60 s.
    async with stack(persistent=True, run=False) as s:
        await s.platform.update_function_code("work", guest("recorder"))
        started = time.monotonic()
        await s.start()
        assert await s.lines("work", "EVENT ", 1, timeout=10) == ["30000"]
        assert time.monotonic() - started < 10
        await s.settled()
