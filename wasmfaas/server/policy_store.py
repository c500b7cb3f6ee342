"""Functions' resource-based policies: the statements AddPermission adds, per function and per version or alias.

Kept in `<data_dir>/server/policies.json` (written atomically: a crash leaves the old file or the new one), or in
memory only when the server has no data directory of its own. A statement is kept as the JSON object Lambda's
GetPolicy shows; the store knows only its `Sid`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec

from .._files import atomic_write, read_kept

__all__ = ["PolicyStore"]

# (function, qualifier or "") -> statements in the order they were added
_Policies = dict[str, dict[str, list[dict[str, Any]]]]


class PolicyStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._policies: _Policies = {}
        if path is not None and path.exists():
            self._policies = read_kept(path, _Policies, "resource policies")

    def statements(self, function_name: str, qualifier: str | None) -> list[dict[str, Any]]:
        return list(self._policies.get(function_name, {}).get(qualifier or "", []))

    def fingerprint(self, function_name: str, qualifier: str | None) -> str:
        """A digest of the policy's statements ("" for none): part of the function's or alias's RevisionId, which
        moves with each statement added or removed, as on Lambda."""
        statements = self._policies.get(function_name, {}).get(qualifier or "")
        if not statements:
            return ""
        return hashlib.sha256(msgspec.json.encode(statements)).hexdigest()

    def add(self, function_name: str, qualifier: str | None, statement: dict[str, Any]) -> None:
        self._policies.setdefault(function_name, {}).setdefault(qualifier or "", []).append(statement)
        self._save()

    def remove(self, function_name: str, qualifier: str | None, sid: str) -> bool:
        statements = self._policies.get(function_name, {}).get(qualifier or "", [])
        kept = [s for s in statements if s.get("Sid") != sid]
        if len(kept) == len(statements):
            return False
        self._set(function_name, qualifier or "", kept)
        self._save()
        return True

    def delete_function(self, function_name: str, qualifier: str | None = None) -> None:
        """Drop the function's policies (all of them, or one version's or alias's)."""
        if function_name not in self._policies:
            return
        if qualifier is None:
            del self._policies[function_name]
        elif qualifier in self._policies[function_name]:
            self._set(function_name, qualifier, [])
        else:
            return
        self._save()

    def _set(self, function_name: str, key: str, statements: list[dict[str, Any]]) -> None:
        per_function = self._policies[function_name]
        if statements:
            per_function[key] = statements
        else:
            per_function.pop(key, None)
            if not per_function:
                del self._policies[function_name]

    def _save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, msgspec.json.encode(self._policies))
