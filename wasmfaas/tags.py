"""A function's tags: key-value labels kept with the function (not with its versions), under Lambda's rules.

Lambda's rules (its model's `TagKey`/`TagValue` and its tagging guide): at most 50 tags on a function; a key is
1-128 characters, a value 0-256, both of letters, numbers, separators (Unicode's categories L, N and Z) and
`_ . : / = + - @`; keys beginning `aws:` are reserved for AWS.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Final

from .errors import InvalidParameterError

__all__ = ["MAX_TAGS", "check_tag_keys", "merge_tags"]

MAX_TAGS: Final = 50
MAX_KEY_CHARS: Final = 128
MAX_VALUE_CHARS: Final = 256
_PUNCTUATION: Final = frozenset("_.:/=+-@")


def _allowed(text: str) -> bool:
    return all(ch in _PUNCTUATION or unicodedata.category(ch)[0] in "LNZ" for ch in text)


def _check_key(key: object, field: str = "Tags") -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS:
        raise InvalidParameterError(field, f"a tag key must be 1-{MAX_KEY_CHARS} characters, got {key!r}")
    if not _allowed(key):
        raise InvalidParameterError(
            field, f"tag key {key!r} may hold only letters, numbers, spaces and _ . : / = + - @"
        )
    if key.lower().startswith("aws:"):
        raise InvalidParameterError(field, f"tag key {key!r}: the prefix aws: is reserved for AWS")
    return key


def check_tag_keys(keys: Iterable[object]) -> list[str]:
    """The keys, each checked (UntagResource's argument)."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):  # a string's letters are no keys
        raise InvalidParameterError("TagKeys", f"must be a list of tag keys, got {keys!r}")
    return [_check_key(key, "TagKeys") for key in keys]


def merge_tags(current: Mapping[str, str], new: Mapping[str, object]) -> dict[str, str]:
    """`current` with `new` added or replacing, checked; InvalidParameterError past 50 tags or on a bad tag."""
    if not isinstance(new, Mapping):
        raise InvalidParameterError("Tags", f"must be a mapping of tag keys to values, got {type(new).__name__}")
    merged = dict(current)
    for key, value in new.items():
        _check_key(key)
        if not isinstance(value, str):
            raise InvalidParameterError("Tags", f"the value of tag {key!r} must be a string, got {value!r}")
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidParameterError(
                "Tags", f"the value of tag {key!r} must be at most {MAX_VALUE_CHARS} characters"
            )
        if not _allowed(value):
            raise InvalidParameterError(
                "Tags", f"the value of tag {key!r} may hold only letters, numbers, spaces and _ . : / = + - @"
            )
        merged[key] = value
    if len(merged) > MAX_TAGS:
        raise InvalidParameterError(
            "Tags", f"a function may have at most {MAX_TAGS} tags; these would give it {len(merged)}"
        )
    return merged
