"""The process the durability tests kill with SIGKILL (run as a script, not collected by pytest).

durability_child.py submit DATA_DIR WASM COUNT   create "rec", submit COUNT events, print each request id as its
                                                 submit returns, then SIGKILL itself at once
durability_child.py run DATA_DIR WASM            create "work" (the sleep guest), run the invoker, submit a 30 s
                                                 sleep, print its request id once a worker has claimed it, and
                                                 wait to be killed
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio

from wasmfaas import FunctionConfig, Platform
from wasmfaas.events import AsyncInvoker


async def submit(data_dir: Path, wasm: bytes, count: int) -> None:
    async with Platform(data_dir=data_dir, persistent=True) as platform, AsyncInvoker(platform) as events:
        await platform.create_function("rec", wasm)
        for i in range(count):
            request_id = await events.submit("rec", None, f'{{"n": {i}}}'.encode())
            print(request_id, flush=True)
        # Right after the last submit returned, as if the host died before anything else happened.
        os.kill(os.getpid(), signal.SIGKILL)


async def run(data_dir: Path, wasm: bytes) -> None:
    async with (
        Platform(data_dir=data_dir, persistent=True) as platform,
        AsyncInvoker(platform, lease_s=60.0) as events,
        anyio.create_task_group() as tg,
    ):
        await platform.create_function("work", wasm, config=FunctionConfig(timeout=60.0))
        await tg.start(events.run)
        request_id = await events.submit("work", None, b"30000")
        while events.in_flight == 0:
            await anyio.sleep(0.01)
        print(request_id, flush=True)
        await anyio.sleep_forever()


def main() -> None:
    mode, data_dir, wasm_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    wasm = wasm_path.read_bytes()
    if mode == "submit":
        anyio.run(submit, data_dir, wasm, int(sys.argv[4]))
    else:
        anyio.run(run, data_dir, wasm)


if __name__ == "__main__":
    main()
