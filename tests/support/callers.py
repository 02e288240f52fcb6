"""A gRPC stub that calls as one bureau (the dev identity header), with a deadline on every
unary call (server streams run until the test ends them)."""

from __future__ import annotations

STREAMS = frozenset({"Subscribe"})


class Caller:
    def __init__(self, stub, bureau: str) -> None:
        self._stub = stub
        self.metadata = (("x-ipcoord-bureau", bureau),)

    def __getattr__(self, method: str):
        rpc = getattr(self._stub, method)
        if method in STREAMS:
            return lambda request, **kw: rpc(request, metadata=self.metadata, **kw)
        return lambda request: rpc(request, metadata=self.metadata, timeout=30)
