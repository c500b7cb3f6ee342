"""wasmfaas.buildtools: running build tools, which never outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wasmfaas.buildtools import output_of, run_tool
from wasmfaas.errors import BuildError


def test_a_tool_runs_with_its_environment_and_output() -> None:
    proc = run_tool(
        ["sh", "-c", 'echo "out $GREETING"; echo err >&2; exit 3'], name="sh", env={**os.environ, "GREETING": "hi"}
    )
    assert proc.returncode == 3 and output_of(proc, stdout_first=True) == "out hi\nerr"


def test_a_missing_tool_or_a_slow_one_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="cannot run node: no-such-tool-here not found"):
        run_tool(["no-such-tool-here"], name="the builder", cannot_run="node", env=dict(os.environ))
    with pytest.raises(BuildError, match=r"sleep did not finish within 0\.2 s"):
        run_tool(["sleep", "5"], name="sleep", env=dict(os.environ), timeout=0.2)


def _state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_tool_dies_with_the_process_that_ran_it(tmp_path: Path) -> None:
    # A server killed during a build had left the build running to its end.
    pid_file = tmp_path / "tool.pid"
    script = (
        "import os\n"
        "from wasmfaas.buildtools import run_tool\n"
        f"run_tool(['sh', '-c', 'echo $$ > {pid_file}; exec sleep 60'], name='sh', env=dict(os.environ))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert time.monotonic() < deadline, "the tool never started"
            time.sleep(0.05)
        tool = int(pid_file.read_text())
        assert _state(tool) not in (None, "Z")
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while _state(tool) not in (None, "Z"):
        assert time.monotonic() < deadline, "the tool outlived the process that ran it"
        time.sleep(0.05)
