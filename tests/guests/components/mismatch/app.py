"""A component whose init and handle are named as wasmfaas expects but typed as neither of its worlds."""

import wit_world
from wit_world.imports import types


class WitWorld(wit_world.WitWorld):
    def init(self) -> None:
        pass

    def handle(self, ctx: types.Context, event: str) -> bytes:
        return event.encode()
