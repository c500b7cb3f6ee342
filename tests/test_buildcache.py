"""wasmfaas.buildcache: content-addressed artifacts, built once, kept under a size by least recent use."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmfaas import buildcache
from wasmfaas.errors import BuildError

KB = 1024


def _maker(size: int, calls: list[str]) -> Callable[[Path], None]:
    def produce(tmp: Path) -> None:
        calls.append(tmp.name)
        tmp.write_bytes(b"x" * size)

    return produce


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_build_once_and_a_hit_refreshes_its_use(tmp_path: Path) -> None:
    calls: list[str] = []
    out = buildcache.build("a.wasm", _maker(10, calls), tmp_path)
    assert out == tmp_path / "a.wasm" and out.read_bytes() == b"x" * 10 and len(calls) == 1
    _age(out, 3600)
    assert buildcache.build("a.wasm", _maker(10, calls), tmp_path) == out
    assert len(calls) == 1  # not built again
    assert time.time() - out.stat().st_mtime < 60  # used just now: last in the LRU order


def test_a_new_build_trims_the_least_recently_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMFAAS_BUILD_CACHE_MAX_MB", "1")
    calls: list[str] = []
    paths = {name: buildcache.build(f"{name}.wasm", _maker(400 * KB, calls), tmp_path) for name in "abc"}
    assert len(calls) == 3  # 1.2 MB, but each was in use when built: nothing went
    assert all(p.is_file() for p in paths.values())
    _age(paths["a"], 3 * 3600)
    _age(paths["b"], 3600)
    _age(paths["c"], 2 * 3600)
    buildcache.build("b.wasm", _maker(400 * KB, calls), tmp_path)  # a hit: b is now the most recently used

    d = buildcache.build("d.wasm", _maker(400 * KB, calls), tmp_path)
    # 1.6 MB over 1 MB: the oldest go until the rest fit in 80 % of it, a then c; b (just used) and d stay.
    assert not paths["a"].exists() and not paths["c"].exists()
    assert not (tmp_path / "a.lock").exists()
    assert paths["b"].is_file() and d.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".wasm") == ["b.wasm", "d.wasm"]

    again = buildcache.build("a.wasm", _maker(400 * KB, calls), tmp_path)  # evicted: built again
    assert again.is_file() and len(calls) == 5


def test_artifacts_in_use_are_never_trimmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMFAAS_BUILD_CACHE_MAX_MB", "1")
    calls: list[str] = []
    for name in "abcd":
        buildcache.build(f"{name}.wasm", _maker(400 * KB, calls), tmp_path)
    # Over the limit, but all used within ten minutes: a process may be about to open any of them.
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".wasm"]) == 4
    assert buildcache.trim(tmp_path, 1024 * KB) == []
    _age(tmp_path / "b.wasm", 700)
    assert buildcache.trim(tmp_path, 1024 * KB) == [tmp_path / "b.wasm"]


def test_trim_skips_while_another_process_trims(tmp_path: Path) -> None:
    buildcache.build("a.wasm", _maker(400 * KB, []), tmp_path)
    _age(tmp_path / "a.wasm", 3600)
    with open(tmp_path / ".trim.lock", "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert buildcache.trim(tmp_path, 1) == []
    assert buildcache.trim(tmp_path, 1) == [tmp_path / "a.wasm"]


def test_the_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASMFAAS_BUILD_CACHE_MAX_MB", raising=False)
    assert buildcache.default_max_bytes() == 5120 * 1024 * 1024
    monkeypatch.setenv("WASMFAAS_BUILD_CACHE_MAX_MB", "0")
    assert buildcache.default_max_bytes() is None  # no limit
    for bad in ("lots", "-1", "1.5"):
        monkeypatch.setenv("WASMFAAS_BUILD_CACHE_MAX_MB", bad)
        with pytest.raises(BuildError, match="WASMFAAS_BUILD_CACHE_MAX_MB"):
            buildcache.default_max_bytes()


def test_no_limit_keeps_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMFAAS_BUILD_CACHE_MAX_MB", "0")
    for name in "abc":
        path = buildcache.build(f"{name}.wasm", _maker(400 * KB, []), tmp_path)
        _age(path, 3600)
    buildcache.build("d.wasm", _maker(400 * KB, []), tmp_path)
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".wasm"]) == 4


def test_rejected_inputs_fail_at_once_the_next_time(tmp_path: Path) -> None:
    def reject(tmp: Path) -> None:
        raise buildcache.Rejected("syntax error on line 1")

    with pytest.raises(BuildError, match="syntax error"):
        buildcache.build("bad.wasm", reject, tmp_path)
    calls: list[str] = []
    with pytest.raises(BuildError, match="syntax error"):
        buildcache.build("bad.wasm", _maker(1, calls), tmp_path)
    assert calls == [] and not (tmp_path / "bad.wasm").exists()


def test_a_new_build_sweeps_what_crashed_builds_left(tmp_path: Path) -> None:
    old_file, old_dir = tmp_path / ".py-abc.wasm.x1y2.wasm", tmp_path / ".py-abc.x1y2.stage"
    fresh = tmp_path / ".py-def.wasm.z9.wasm"  # a build under way in another process
    old_file.write_bytes(b"half")
    (old_dir / "src").mkdir(parents=True)
    fresh.write_bytes(b"writing")
    for path in (old_file, old_dir):
        _age(path, 2 * 86400)
    buildcache.build("a.wasm", _maker(10, []), tmp_path)
    assert not old_file.exists() and not old_dir.exists() and fresh.exists()
