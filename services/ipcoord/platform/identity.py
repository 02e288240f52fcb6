"""Who is calling: the caller's bureau on every gRPC call.

Production: the bureau id is the Common Name of the mTLS client certificate.
Development (IPCOORD_INSECURE_DEV_IDENTITY=true, logged loudly at start): the caller names itself
with the `x-ipcoord-bureau` metadata value. Without either, every call is UNAUTHENTICATED.

A lookup forwarded by another replica of the same service (platform/forwarding.py) names the
original caller in `x-ipcoord-forwarded-for`. That header counts only on a call whose
certificate is the service's own replica certificate (Common Name ``ipcoord-<service>``; every
replica of a service presents it), so a bureau cannot claim to be another by sending it.
"""

from __future__ import annotations

import grpc

from ipcoord.platform.bureaus import BureauRegistry

DEV_IDENTITY_HEADER = "x-ipcoord-bureau"
FORWARDED_FOR_HEADER = "x-ipcoord-forwarded-for"


def replica_name(service: str) -> str:
    """The Common Name of a service's replica certificate."""
    return f"ipcoord-{service}"


class IdentityResolver:
    def __init__(
        self,
        registry: BureauRegistry,
        *,
        insecure_dev_identity: bool,
        replica_name: str | None = None,
    ) -> None:
        self._registry = registry
        self._insecure = insecure_dev_identity
        self._replica_name = replica_name

    async def caller_bureau(self, context: grpc.aio.ServicerContext) -> str:
        """The calling bureau's id; aborts the call when it is unknown or not proven."""
        metadata = dict(context.invocation_metadata() or ())
        bureau = self._from_certificate(context)
        if FORWARDED_FOR_HEADER in metadata:
            if not self.from_replica(context):
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"only a replica of this service may send {FORWARDED_FOR_HEADER}",
                )
            bureau = metadata[FORWARDED_FOR_HEADER]
        elif bureau is None and self._insecure:
            bureau = metadata.get(DEV_IDENTITY_HEADER)
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

    def from_replica(self, context: grpc.aio.ServicerContext) -> bool:
        """Whether the call comes from another replica of this service. In insecure
        development mode every caller names itself, so this proves nothing more there."""
        certificate_name = self._from_certificate(context)
        if certificate_name is None:
            return self._insecure
        return self._replica_name is not None and certificate_name == self._replica_name

    @staticmethod
    def _from_certificate(context: grpc.aio.ServicerContext) -> str | None:
        auth = context.auth_context() or {}
        names = auth.get("x509_common_name") or []
        return names[0].decode() if names else None
