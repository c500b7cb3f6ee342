"""A component of the bytes world (`wasmfaas:function/handler`), built with componentize-py: any bytes in and out."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import types


class WitWorld(wit_world.WitWorld):
    def init(self) -> None:
        pass

    def handle(self, ctx: types.Context, event: bytes) -> bytes:
        if event == b"fail":
            raise Err(types.FunctionError("Boom", "a handled failure", ["frame 1"]))
        if event.startswith(b"big "):
            return bytes(range(256)) * (int(event[4:]) // 256)
        return ctx.request_id.encode() + b" " + event
