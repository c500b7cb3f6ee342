"""AWS's event stream encoding (`application/vnd.amazon.eventstream`), which InvokeWithResponseStream answers in.

A message is a prelude (total length, headers length, both big-endian u32, then the CRC32 of those 8 bytes), the
headers (each: name length u8, name, type 7 = string, value length u16, value), the payload, and the CRC32 of all
that came before. botocore's parser checks both CRCs and the lengths, so a message it accepts is well formed.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

__all__ = ["MAX_PAYLOAD", "event_message"]

# botocore refuses a message whose payload is over 16 MiB; a chunk stays well inside it.
MAX_PAYLOAD: Final = 16 * 1024 * 1024
_STRING: Final = 7
_PRELUDE: Final = struct.Struct(">II")
_CRC: Final = struct.Struct(">I")


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    return (
        bytes((len(encoded_name),))
        + encoded_name
        + bytes((_STRING,))
        + struct.pack(">H", len(encoded_value))
        + encoded_value
    )


def event_message(event_type: str, content_type: str, payload: bytes) -> bytes:
    """One event message (`:message-type` event) of `event_type` carrying `payload`."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"an event message carries at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    headers = (
        _header(":event-type", event_type)
        + _header(":content-type", content_type)
        + _header(":message-type", "event")
    )
    prelude = _PRELUDE.pack(12 + len(headers) + len(payload) + 4, len(headers))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + headers + payload
    return message + _CRC.pack(zlib.crc32(message))
