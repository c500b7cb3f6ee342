"""Invocation records: what a destination or the dead-letter store receives."""

from __future__ import annotations

import msgspec

from wasmfaas.events.records import json_or_string


def test_payloads_become_json_whatever_they_hold() -> None:
    assert bytes(json_or_string(b"")) == b"null"
    assert bytes(json_or_string(b'{"a": [1, 2]}')) == b'{"a": [1, 2]}'  # JSON stays as it is
    assert msgspec.json.decode(bytes(json_or_string(b"plain text"))) == "plain text"
    # JSON with bad UTF-8 in a string would make the whole record invalid: it is carried as text, repaired.
    assert msgspec.json.decode(bytes(json_or_string(b'{"a": "\xff"}'))) == '{"a": "\ufffd"}'
