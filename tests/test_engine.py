"""The engine's epoch ticker: deadlines count wall-clock time, however late its thread wakes."""

from __future__ import annotations

import time

from wasmfaas.engine import EPOCH_TICK_S, Engine, run_ticker


def ticks_for(wake_ups: list[float]) -> int:
    """How far the epoch moves when the ticker's wake-ups come after these waits (seconds each)."""
    now = [0.0]
    pending = list(wake_ups)
    count = [0]

    def wait(_: float) -> bool:
        if not pending:
            return True  # stop
        now[0] += pending.pop(0)
        return False

    def increment() -> None:
        count[0] += 1

    run_ticker(wait, lambda: now[0], increment)
    return count[0]


def test_the_epoch_counts_wall_clock_ticks_not_wake_ups() -> None:
    assert ticks_for([EPOCH_TICK_S] * 10) == 10
    # A busy machine wakes the ticker late (0.62 s was seen): it catches up, so a deadline is not pushed back.
    assert ticks_for([0.62] + [EPOCH_TICK_S] * 3) == 65
    assert ticks_for([0.025] * 40) == 100  # late by 15 ms each time: 1 s is still 100 ticks
    # Never ahead of the clock (a timeout must not end early): wake-ups that come early add only what has passed.
    assert ticks_for([EPOCH_TICK_S / 4] * 8) == 2


def test_lag_counts_the_increments_the_ticker_owes() -> None:
    # A deadline adds them: the ticker's catch-up had ended inline slices (2 ticks) at once.
    engine = Engine()
    engine.close()  # the ticker stopped: the test says what it has done
    engine._origin = time.monotonic() - 5.2 * EPOCH_TICK_S
    for ticked, lag in ((5, 0), (6, 0), (4, 1), (1, 4)):
        engine._ticked = ticked
        assert engine.lag() == lag
