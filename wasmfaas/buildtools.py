"""Running the build tools (compilers, componentizers, Wizer) and checking the npm-pinned ones.

Every builder runs its tool the same way: no stdin, output captured as text, an optional timeout, and failures to
start or finish turned into `BuildError`. npm tools are pinned by a lockfile; the locked version is part of every
cache key, so a build with another installed version would cache its output under the wrong key and is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import BuildError

__all__ = ["check_installed", "ensure_node_packages", "installed_version", "locked_version", "output_of", "run_tool"]

# Run as a script (-I -S: stdlib only), so that it works whatever the tool's environment says about Python paths.
_GUARD = Path(__file__).with_name("_orphan_guard.py")


def run_tool(
    argv: Sequence[str],
    *,
    name: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float | None = None,
    timeout_hint: str = "",
    cannot_run: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a build tool to completion; BuildError if it cannot start or outlives `timeout` seconds. The tool dies
    with this process (`_orphan_guard`): a killed server leaves no build running on."""
    # Found as subprocess would find it (on the PATH of the environment it is given), before the guard runs it.
    search = os.pathsep.join(os.get_exec_path(dict(env)))
    tool = argv[0] if os.path.dirname(argv[0]) else shutil.which(argv[0], path=search)
    if tool is None or not os.access(tool, os.X_OK):
        raise BuildError(f"cannot run {cannot_run or name}: {argv[0]} not found")
    try:
        return subprocess.run(
            [sys.executable, "-I", "-S", str(_GUARD), str(os.getpid()), tool, *argv[1:]],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=dict(env),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"{name} did not finish within {timeout:g} s{timeout_hint}") from None
    except OSError as exc:
        raise BuildError(f"cannot run {cannot_run or name}: {exc}") from exc


def output_of(proc: subprocess.CompletedProcess[str], *, stdout_first: bool = False) -> str:
    """A tool's stderr and stdout (in that order unless told otherwise), stripped and joined."""
    parts = (proc.stdout, proc.stderr) if stdout_first else (proc.stderr, proc.stdout)
    return "\n".join(part.strip() for part in parts if part.strip())


def locked_version(lockfile: Path, package: str) -> str:
    """The version of `package` that an npm lockfile pins."""
    try:
        lock = json.loads(lockfile.read_text())
        version = lock["packages"][f"node_modules/{package}"]["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BuildError(f"cannot read the {package} version from {lockfile}: {exc}") from exc
    if not isinstance(version, str):
        raise BuildError(f"malformed {package} version in {lockfile}: {version!r}")
    return version


def installed_version(package_json: Path) -> str | None:
    """The version an installed npm package's package.json declares, or None."""
    try:
        version = json.loads(package_json.read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def check_installed(node_modules: Path, package: str, locked: str, install_hint: str) -> None:
    """Refuse to build with an installed package other than the locked one."""
    installed = installed_version(node_modules / package / "package.json")
    if installed != locked:
        found = "is missing" if installed is None else f"is {installed}"
        raise BuildError(f"{package} in {node_modules} {found}, but package-lock.json pins {locked}: {install_hint}")


def ensure_node_packages(
    node_modules: Path, package: str, locked: str, install_hint: str, *, needs_node: str, packages_of: str
) -> str:
    """`node`'s path, once node is on PATH and `node_modules` holds `package` at its locked version.

    `needs_node` completes "node is not on PATH: ..."; `packages_of` names whose npm packages are missing.
    """
    node = shutil.which("node")
    if node is None:
        raise BuildError(f"node is not on PATH: {needs_node}")
    if not node_modules.is_dir():
        raise BuildError(f"{packages_of} npm packages are not installed ({node_modules} is missing): {install_hint}")
    check_installed(node_modules, package, locked, install_hint)
    return node
