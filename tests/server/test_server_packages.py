"""Deployment packages: handler resolution, path traversal, zip bombs and Lambda's size limits."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from server_helpers import zip_of

from wasmfaas.server import packages
from wasmfaas.server.errors import LambdaError
from wasmfaas.server.packages import build_zip, module_file_name, open_package

MODULE = b"\0asm\x01\0\0\0"


def refused(data: bytes, handler: str = "") -> str:
    with pytest.raises(LambdaError) as e:
        open_package(data, handler)
    assert (e.value.status, e.value.code) == (400, "InvalidParameterValueException")
    return e.value.message


@pytest.mark.parametrize(
    ("handler", "file"),
    [
        ("hello.wasm", "hello.wasm"),
        ("hello", "hello.wasm"),
        ("hello.handler", "hello.wasm"),
        ("a/b.wasm", "a/b.wasm"),
    ],
)
def test_handler_names_a_module(handler: str, file: str) -> None:
    assert module_file_name(handler) == file
    package = open_package(zip_of({file: MODULE, "other.txt": b"x"}), handler)
    assert (package.module, package.file_name) == (MODULE, file)


def test_bare_module_and_single_module() -> None:
    assert open_package(MODULE, "").module == MODULE
    assert open_package(zip_of({"./dir/only.wasm": MODULE}), "").file_name == "dir/only.wasm"


@pytest.mark.parametrize("name", ["../x.wasm", "a/../../x.wasm", "/etc/x.wasm", "C:/x.wasm", "a\\..\\..\\x.wasm"])
def test_path_traversal_is_refused(name: str) -> None:
    assert "path traversal" in refused(zip_of({name: MODULE, "x.wasm": MODULE}), "x")


def test_sizes_over_lambdas_limits_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "zipped" in refused(b"\0asm" + b"\0" * packages.MAX_ZIPPED)
    monkeypatch.setattr(packages, "MAX_UNZIPPED", 1000)
    assert "Unzipped size must be smaller than 1000 bytes" in refused(
        zip_of({"a.wasm": MODULE, "b": b"x" * 2000}), "a"
    )


def test_a_zip_bomb_is_refused_without_inflating_it() -> None:
    # 300 MB of zeros compresses to ~300 KB; its header declares the real size, over the 250 MB limit.
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.wasm", "w", force_zip64=True) as f,
    ):
        chunk = b"\0" * (1 << 20)
        for _ in range(300):
            f.write(chunk)
    assert len(buffer.getvalue()) < 1 << 20
    assert "Unzipped size must be smaller" in refused(buffer.getvalue(), "bomb")


def _lying_zip(declared: int, actual: bytes) -> bytes:
    """A zip whose headers declare `declared` uncompressed bytes for a member that inflates to `actual`."""
    good = zip_of({"m.wasm": actual})
    compressed = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressed.compress(actual) + compressed.flush()
    crc = zlib.crc32(actual)
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), declared, 6, 0) + b"m.wasm"
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), declared, 6, 0, 0, 0, 0, 0, 0
        )
        + b"m.wasm"
    )
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    assert good  # the real library agrees the member is fine when not lied about
    return local + data + central + end


def test_a_member_inflating_past_its_declared_size_is_refused() -> None:
    payload = MODULE + b"\0" * 100_000
    message = refused(_lying_zip(100, payload), "m")
    assert "Could not unzip" in message or "declared" in message


def test_a_truncated_member_is_refused() -> None:
    message = refused(_lying_zip(200_000, MODULE + b"\0" * 100), "m")
    assert "Could not unzip" in message or "truncated" in message


def test_garbage_and_encrypted_and_empty() -> None:
    assert "Could not unzip" in refused(b"PK\x03\x04garbage")
    assert "empty" in refused(b"")
    good = bytearray(zip_of({"x.wasm": MODULE}))
    good[6] |= 1  # the local header's "encrypted" flag
    central = good.rfind(b"PK\x01\x02")
    good[central + 8] |= 1
    assert "encrypted" in refused(bytes(good), "x")


def test_build_zip_is_stable_and_readable() -> None:
    assert build_zip("f.wasm", MODULE) == build_zip("f.wasm", MODULE)
    with zipfile.ZipFile(io.BytesIO(build_zip("f.wasm", MODULE))) as archive:
        assert archive.read("f.wasm") == MODULE
