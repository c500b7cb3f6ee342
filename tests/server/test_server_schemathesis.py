"""Property-based fuzzing of every documented operation with schemathesis: no input may cause a 5xx.

Bounded: a few examples per operation and a 90 s cap, run by the schemathesis CLI against the served
/openapi.json (so what is tested is what is documented).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from server_helpers import ServerProcess

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis (dev extra) is not installed")
def test_no_input_causes_a_server_error(server: ServerProcess, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "5",
            "--max-time",
            "90",  # the fuzzing phase runs until this cap (6,500 cases in 150 s on a slow machine); checked below
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "30",  # a loaded CI machine: a slow answer is not what this test looks for (5xx is)
            "--workers",
            "2",
            "--seed",
            "20261126",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    # On a failure, what went wrong comes before the (long) warnings: show it, not only the summary.
    errors = result.stdout.find("ERRORS")
    shown = result.stdout[errors : errors + 6000] if errors >= 0 else ""
    assert result.returncode == 0, shown + result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    # The cap must cut the fuzzing short, not leave operations out.
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested and int(tested[1]) == int(selected[1]) == int(selected[2]) > 60, result.stdout[-1500:]
