"""Who is calling: the caller's bureau on every gRPC call.

Production: the bureau id is the Common Name of the mTLS client certificate.
Development (IPCOORD_INSECURE_DEV_IDENTITY=true, logged loudly at start): the caller names itself
with the `x-ipcoord-bureau` metadata value. Without either, every call is UNAUTHENTICATED.
"""

from __future__ import annotations

import grpc

from ipcoord.platform.bureaus import BureauRegistry

DEV_IDENTITY_HEADER = "x-ipcoord-bureau"


class IdentityResolver:
    def __init__(self, registry: BureauRegistry, *, insecure_dev_identity: bool) -> None:
        self._registry = registry
        self._insecure = insecure_dev_identity

    async def caller_bureau(self, context: grpc.aio.ServicerContext) -> str:
        """The calling bureau's id; aborts the call when it is unknown or not proven."""
        bureau = self._from_certificate(context)
        if bureau is None and self._insecure:
            bureau = dict(context.invocation_metadata() or ()).get(DEV_IDENTITY_HEADER)
        if not bureau:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "no caller identity: present a bureau client certificate"
                + (f" or the {DEV_IDENTITY_HEADER} header" if self._insecure else ""),
            )
        if bureau not in self._registry:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"bureau {bureau!r} is not a known bureau"
            )
        return bureau

    @staticmethod
    def _from_certificate(context: grpc.aio.ServicerContext) -> str | None:
        auth = context.auth_context() or {}
        names = auth.get("x509_common_name") or []
        return names[0].decode() if names else None
