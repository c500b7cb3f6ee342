"""Tags: Lambda's rules on keys, values and count, through the platform."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wasmfaas import FunctionNotFoundError, InvalidParameterError, SyncPlatform
from wasmfaas.tags import MAX_TAGS, check_tag_keys, merge_tags


def test_rules() -> None:
    assert merge_tags({"a": "1"}, {"b": "", "a": "2"}) == {"a": "2", "b": ""}
    assert merge_tags({}, {"Ünïcode key 1": "välue with spaces_.:/=+-@"}) == {
        "Ünïcode key 1": "välue with spaces_.:/=+-@"
    }
    assert len(merge_tags({}, {f"k{i}": "v" for i in range(MAX_TAGS)})) == MAX_TAGS
    for bad in (
        {"": "v"},
        {"k" * 129: "v"},
        {"k": "v" * 257},
        {"aws:name": "v"},
        {"AWS:name": "v"},
        {"semi;colon": "v"},
        {"k": "new\nline"},
        {"k": 1},
        {f"k{i}": "v" for i in range(MAX_TAGS + 1)},
    ):
        with pytest.raises(InvalidParameterError, match=r"^Tags: "):
            merge_tags({}, bad)
    with pytest.raises(InvalidParameterError, match="at most 50 tags; these would give it 51"):
        merge_tags({f"k{i}": "v" for i in range(MAX_TAGS)}, {"one-more": "v"})
    assert check_tag_keys(["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidParameterError, match=r"^TagKeys: "):
        check_tag_keys(["ok", ""])


def test_platform_tags(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    with pytest.raises(InvalidParameterError):
        platform.create_function("fn", guest("echo"), tags={"aws:x": "y"})
    assert platform.list_functions() == []  # refused before anything was created
    platform.create_function("fn", guest("echo"), tags={"team": "a"})
    platform.tag_function("fn", {"env": "dev"})
    with pytest.raises(InvalidParameterError):
        platform.tag_function("fn", {f"k{i}": "v" for i in range(MAX_TAGS - 1)})  # 51 with the two it has
    assert platform.list_tags("fn") == {"env": "dev", "team": "a"}  # a refused change changes nothing
    with pytest.raises(InvalidParameterError, match="not the string"):
        platform.untag_function("fn", "team")  # not ["t", "e", "a", "m"]
    platform.untag_function("fn", ["team", "absent"])
    assert platform.list_tags("fn") == {"env": "dev"}
    with pytest.raises(FunctionNotFoundError):
        platform.tag_function("nope", {"a": "b"})
