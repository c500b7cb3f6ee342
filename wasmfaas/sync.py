"""A small synchronous facade over `Platform`, for scripts and benchmarks.

    with SyncPlatform() as platform:
        platform.create_function("echo", code=wasm_bytes)
        print(platform.invoke("echo", b"hi").payload)

Management calls run on the platform's event loop in a background thread (an anyio blocking portal). `invoke` does
not go through the loop at all: it runs the guest in the calling thread, under the same concurrency limits, so a
warm call costs microseconds. Any number of threads may call `invoke` at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self, Unpack

from anyio.from_thread import BlockingPortal, start_blocking_portal

from .config import ConfigChanges, FunctionConfig
from .errors import PlatformClosedError
from .layers import LayerVersionInfo
from .platform import AccountSettings, AliasInfo, FunctionInfo, Platform
from .pool import PoolStats
from .results import FunctionError, InvocationResult

__all__ = ["SyncPlatform"]


class SyncPlatform:
    """`Platform` for code without an event loop; takes the same keyword arguments."""

    def __init__(self, **platform_options: Any) -> None:
        self._options = platform_options
        self._stack = ExitStack()
        self._portal: BlockingPortal | None = None
        self._platform: Platform | None = None

    def __enter__(self) -> Self:
        if self._platform is not None:
            raise RuntimeError("this SyncPlatform is open already: enter it once (`with` it in one place)")
        try:
            portal = self._stack.enter_context(start_blocking_portal())
            platform = Platform(**self._options)
            self._platform = self._stack.enter_context(portal.wrap_async_context_manager(platform))
        except BaseException:
            # A failed start stops the portal's event-loop thread too (the process had hung at exit on it).
            self._platform = None
            self._stack.close()
            raise
        self._portal = portal
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._portal = self._platform = None
        self._stack.__exit__(exc_type, exc, tb)

    @property
    def platform(self) -> Platform:
        if self._platform is None:
            raise PlatformClosedError("use the SyncPlatform inside `with SyncPlatform() as platform:`")
        return self._platform

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        platform = self.platform
        assert self._portal is not None
        return self._portal.call(lambda: func(platform, *args, **kwargs))

    def create_function(
        self,
        name: str,
        code: bytes | str | os.PathLike[str],
        *,
        runtime: str = "wasi",
        handler: str = "",
        config: FunctionConfig | None = None,
        description: str = "",
        role: str = "",
        publish: bool = False,
        tags: Mapping[str, str] | None = None,
        layers: Sequence[str] = (),
        inert_settings: Mapping[str, Any] | None = None,
    ) -> FunctionInfo:
        """`Platform.create_function`."""
        info: FunctionInfo = self._call(
            Platform.create_function,
            name,
            code,
            runtime=runtime,
            handler=handler,
            config=config,
            description=description,
            role=role,
            publish=publish,
            tags=tags,
            layers=layers,
            inert_settings=inert_settings,
        )
        return info

    def update_function_code(
        self,
        name: str,
        code: bytes | str | os.PathLike[str],
        *,
        publish: bool = False,
        if_revision: int | None = None,
        inert_settings: Mapping[str, Any] | None = None,
    ) -> FunctionInfo:
        """`Platform.update_function_code`."""
        info: FunctionInfo = self._call(
            Platform.update_function_code,
            name,
            code,
            publish=publish,
            if_revision=if_revision,
            inert_settings=inert_settings,
        )
        return info

    def update_function_configuration(
        self,
        name: str,
        config: FunctionConfig | None = None,
        *,
        handler: str | None = None,
        description: str | None = None,
        runtime: str | None = None,
        role: str | None = None,
        layers: Sequence[str] | None = None,
        inert_settings: Mapping[str, Any] | None = None,
        if_revision: int | None = None,
        **changes: Unpack[ConfigChanges],
    ) -> FunctionInfo:
        """`Platform.update_function_configuration`."""
        info: FunctionInfo = self._call(
            Platform.update_function_configuration,
            name,
            config,
            handler=handler,
            description=description,
            runtime=runtime,
            role=role,
            layers=layers,
            inert_settings=inert_settings,
            if_revision=if_revision,
            **changes,
        )
        return info

    def get_function(self, name: str, qualifier: str | None = None) -> FunctionInfo:
        """`Platform.get_function`."""
        info: FunctionInfo = self._call(Platform.get_function, name, qualifier)
        return info

    def list_functions(self) -> list[FunctionInfo]:
        """`Platform.list_functions`."""
        infos: list[FunctionInfo] = self._call(Platform.list_functions)
        return infos

    def delete_function(self, name: str, qualifier: str | None = None) -> None:
        """`Platform.delete_function`."""
        self._call(Platform.delete_function, name, qualifier)

    def publish_version(self, name: str, *, description: str = "", if_revision: int | None = None) -> FunctionInfo:
        """`Platform.publish_version`."""
        info: FunctionInfo = self._call(
            Platform.publish_version, name, description=description, if_revision=if_revision
        )
        return info

    def list_versions(self, name: str) -> list[FunctionInfo]:
        """`Platform.list_versions`."""
        infos: list[FunctionInfo] = self._call(Platform.list_versions, name)
        return infos

    def create_alias(
        self, name: str, alias: str, version: str, *, description: str = "", routing: dict[str, float] | None = None
    ) -> AliasInfo:
        """`Platform.create_alias`."""
        info: AliasInfo = self._call(
            Platform.create_alias, name, alias, version, description=description, routing=routing
        )
        return info

    def update_alias(
        self,
        name: str,
        alias: str,
        *,
        version: str | None = None,
        description: str | None = None,
        routing: dict[str, float] | None = None,
        if_revision: int | None = None,
    ) -> AliasInfo:
        """`Platform.update_alias`."""
        info: AliasInfo = self._call(
            Platform.update_alias,
            name,
            alias,
            version=version,
            description=description,
            routing=routing,
            if_revision=if_revision,
        )
        return info

    def delete_alias(self, name: str, alias: str) -> None:
        """`Platform.delete_alias`."""
        self._call(Platform.delete_alias, name, alias)

    def list_aliases(self, name: str) -> list[AliasInfo]:
        """`Platform.list_aliases`."""
        infos: list[AliasInfo] = self._call(Platform.list_aliases, name)
        return infos

    def get_alias(self, name: str, alias: str) -> AliasInfo:
        """`Platform.get_alias`."""
        info: AliasInfo = self._call(Platform.get_alias, name, alias)
        return info

    def get_function_code(self, name: str, qualifier: str | None = None) -> bytes:
        """`Platform.get_function_code`."""
        code: bytes = self._call(Platform.get_function_code, name, qualifier)
        return code

    def put_function_concurrency(self, name: str, reserved: int | None) -> None:
        """`Platform.put_function_concurrency`."""
        self._call(Platform.put_function_concurrency, name, reserved)

    def put_provisioned_concurrency(self, name: str, qualifier: str, count: int) -> None:
        """`Platform.put_provisioned_concurrency`."""
        self._call(Platform.put_provisioned_concurrency, name, qualifier, count)

    def get_provisioned_concurrency(self, name: str, qualifier: str) -> int | None:
        """`Platform.get_provisioned_concurrency`."""
        count: int | None = self._call(Platform.get_provisioned_concurrency, name, qualifier)
        return count

    def delete_provisioned_concurrency(self, name: str, qualifier: str) -> None:
        """`Platform.delete_provisioned_concurrency`."""
        self._call(Platform.delete_provisioned_concurrency, name, qualifier)

    def provisioned_failure(self, name: str, qualifier: str) -> FunctionError | None:
        """`Platform.provisioned_failure`."""
        failure: FunctionError | None = self._call(Platform.provisioned_failure, name, qualifier)
        return failure

    def list_provisioned_concurrency(self, name: str) -> dict[str, int]:
        """`Platform.list_provisioned_concurrency`."""
        configs: dict[str, int] = self._call(Platform.list_provisioned_concurrency, name)
        return configs

    def publish_layer_version(
        self,
        name: str,
        content: bytes | os.PathLike[str],
        *,
        description: str = "",
        compatible_runtimes: Sequence[str] = (),
        license_info: str = "",
        compatible_architectures: Sequence[str] = (),
    ) -> LayerVersionInfo:
        """`Platform.publish_layer_version`."""
        info: LayerVersionInfo = self._call(
            Platform.publish_layer_version,
            name,
            content,
            description=description,
            compatible_runtimes=compatible_runtimes,
            license_info=license_info,
            compatible_architectures=compatible_architectures,
        )
        return info

    def get_layer_version(self, name: str, version: int) -> LayerVersionInfo:
        """`Platform.get_layer_version`."""
        info: LayerVersionInfo = self._call(Platform.get_layer_version, name, version)
        return info

    def get_layer_version_content(self, name: str, version: int) -> bytes:
        """`Platform.get_layer_version_content`."""
        content: bytes = self._call(Platform.get_layer_version_content, name, version)
        return content

    def list_layer_versions(self, name: str) -> list[LayerVersionInfo]:
        """`Platform.list_layer_versions`."""
        infos: list[LayerVersionInfo] = self._call(Platform.list_layer_versions, name)
        return infos

    def list_layers(self) -> list[LayerVersionInfo]:
        """`Platform.list_layers`."""
        infos: list[LayerVersionInfo] = self._call(Platform.list_layers)
        return infos

    def delete_layer_version(self, name: str, version: int) -> None:
        """`Platform.delete_layer_version`."""
        self._call(Platform.delete_layer_version, name, version)

    def tag_function(self, name: str, tags: Mapping[str, str]) -> None:
        """`Platform.tag_function`."""
        self._call(Platform.tag_function, name, tags)

    def untag_function(self, name: str, keys: Iterable[str]) -> None:
        """`Platform.untag_function`."""
        # A list for the loop's thread (an iterator may be consumed once); anything else the platform refuses.
        self._call(
            Platform.untag_function,
            name,
            list(keys) if isinstance(keys, Iterable) and not isinstance(keys, str) else keys,
        )

    def list_tags(self, name: str) -> dict[str, str]:
        """`Platform.list_tags`."""
        tags: dict[str, str] = self._call(Platform.list_tags, name)
        return tags

    def account_settings(self) -> AccountSettings:
        """`Platform.account_settings`."""
        return self.platform.account_settings()

    def has_function(self, name: str) -> bool:
        """`Platform.has_function`."""
        return self.platform.has_function(name)

    def concurrency_in_flight(self, name: str | None = None) -> int:
        """`Platform.concurrency_in_flight`."""
        return self.platform.concurrency_in_flight(name)

    def invoke(
        self, name: str, payload: bytes | str = b"", *, qualifier: str | None = None, request_id: str | None = None
    ) -> InvocationResult:
        """`Platform.invoke`."""
        return self.platform.invoke_sync(name, payload, qualifier=qualifier, request_id=request_id)

    def pool_stats(self, name: str, qualifier: str | None = None) -> PoolStats:
        """`Platform.pool_stats`."""
        return self.platform.pool_stats(name, qualifier)
