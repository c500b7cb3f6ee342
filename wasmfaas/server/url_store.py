"""Function URL configurations: which URL id serves which function (and alias), with its auth type and CORS.

Kept in `<data_dir>/server/function-urls.json` (written to a temporary file, fsynced and renamed, so a crash leaves
the old file or the new one), or in memory only when the server has no data directory of its own. URL ids are 32
random lower-case letters and digits, like AWS's `<url-id>.lambda-url.<region>.on.aws`.
"""

from __future__ import annotations

import os
import secrets
import string
import tempfile
from pathlib import Path
from typing import Final

import msgspec

from .._files import read_kept
from .shapes import Cors

__all__ = ["UrlConfig", "UrlStore", "new_url_id"]

_ALPHABET: Final = string.ascii_lowercase + string.digits


def new_url_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


class UrlConfig(msgspec.Struct, kw_only=True):
    url_id: str
    function_name: str
    qualifier: str | None  # an alias, or None for the unqualified function
    auth_type: str
    invoke_mode: str
    creation_time: str
    last_modified_time: str
    cors: Cors | None = None


class UrlStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._by_id: dict[str, UrlConfig] = {}
        self._by_function: dict[tuple[str, str | None], UrlConfig] = {}
        if path is not None and path.exists():
            for config in read_kept(path, list[UrlConfig], "function URL configurations"):
                self._index(config)

    def _index(self, config: UrlConfig) -> None:
        self._by_id[config.url_id] = config
        self._by_function[(config.function_name, config.qualifier)] = config

    def by_id(self, url_id: str) -> UrlConfig | None:
        return self._by_id.get(url_id)

    def get(self, function_name: str, qualifier: str | None) -> UrlConfig | None:
        return self._by_function.get((function_name, qualifier))

    def list(self, function_name: str) -> list[UrlConfig]:
        found = [c for (name, _), c in self._by_function.items() if name == function_name]
        return sorted(found, key=lambda c: (c.qualifier or "", c.url_id))

    def put(self, config: UrlConfig) -> None:
        old = self._by_function.get((config.function_name, config.qualifier))
        if old is not None and old.url_id != config.url_id:
            del self._by_id[old.url_id]
        self._index(config)
        self._save()

    def delete(self, function_name: str, qualifier: str | None) -> bool:
        config = self._by_function.pop((function_name, qualifier), None)
        if config is None:
            return False
        del self._by_id[config.url_id]
        self._save()
        return True

    def delete_function(self, function_name: str, qualifier: str | None = None) -> None:
        """Drop the function's URLs (all of them, or the alias's one)."""
        doomed = [k for k in self._by_function if k[0] == function_name and (qualifier is None or k[1] == qualifier)]
        for key in doomed:
            del self._by_id[self._by_function.pop(key).url_id]
        if doomed:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = msgspec.json.encode(sorted(self._by_id.values(), key=lambda c: c.url_id))
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".function-urls.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
