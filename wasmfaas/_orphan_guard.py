"""Run a build tool that dies with the process that started it: `python -m wasmfaas._orphan_guard PARENT ARGV...`.

A server killed with `kill -9` during a build had left its build tool running to the end (a componentize-py build:
a minute of CPU, and a half-written artifact nobody would use). Linux's PR_SET_PDEATHSIG asks the kernel to kill
this process when its parent's thread ends; the setting survives the `exec` of the tool. Only the tool itself is
covered, not processes it starts (which end when their pipes to it close, in the tools used here).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent, tool = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(128 + signal.SIGKILL)
    try:
        os.execvp(tool[0], tool)
    except OSError as exc:  # reported as the tool's own failure to start
        print(f"cannot run {tool[0]}: {exc}", file=sys.stderr)
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
