"""Typed gRPC stubs of intake, credit records and notifications for a bureau system."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import grpc

from ipcoord.platform.identity import DEV_IDENTITY_HEADER
from ipcoord.v1 import credit_pb2_grpc, intake_pb2_grpc, notifications_pb2_grpc

# gRPC retries UNAVAILABLE itself (the call did not reach a service that could take it: a
# rebalance or a recovery), with backoff. Not DEADLINE_EXCEEDED: for a write, the outcome is
# then unknown (the command is on the log), and a retry would be a second command.
_RETRY = {
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.2s",
                "maxBackoff": "3s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}


@dataclass(frozen=True)
class Tls:
    """The bureau's client certificate and key, and the CA that signed the services'."""

    cert: Path | str
    key: Path | str
    ca: Path | str

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca).read_bytes(),
            private_key=Path(self.key).read_bytes(),
            certificate_chain=Path(self.cert).read_bytes(),
        )


class _WithDeadline:
    """A stub whose every call has a deadline unless the caller gives one, and the dev
    identity header when there is no certificate."""

    def __init__(self, stub, deadline_s: float, metadata: tuple) -> None:
        self._stub, self._deadline_s, self._metadata = stub, deadline_s, metadata

    def __getattr__(self, method: str):
        call = getattr(self._stub, method)

        def invoke(request, **kwargs):
            kwargs.setdefault("timeout", self._deadline_s)
            kwargs["metadata"] = (*self._metadata, *kwargs.get("metadata", ()))
            return call(request, **kwargs)

        return invoke


class Services:
    """Blocking stubs (``intake``, ``credit``, ``notifications``); close when done."""

    def __init__(
        self,
        intake: str = "localhost:50051",
        credit: str = "localhost:50052",
        notifications: str = "localhost:50053",
        *,
        tls: Tls | None = None,
        dev_bureau: str | None = None,
        deadline_s: float = 10.0,
    ) -> None:
        if tls is None and dev_bureau is None:
            raise ValueError("give tls (production) or dev_bureau (development without TLS)")
        options = [("grpc.service_config", json.dumps(_RETRY)), ("grpc.enable_retries", 1)]
        credentials = tls.channel_credentials() if tls is not None else None
        metadata = () if tls is not None else ((DEV_IDENTITY_HEADER, dev_bureau),)

        def channel(target: str) -> grpc.Channel:
            if credentials is None:
                return grpc.insecure_channel(target, options=options)
            return grpc.secure_channel(target, credentials, options=options)

        self._channels = [channel(t) for t in (intake, credit, notifications)]
        self.intake = _WithDeadline(
            intake_pb2_grpc.CaseIntakeStub(self._channels[0]), deadline_s, metadata
        )
        self.credit = _WithDeadline(
            credit_pb2_grpc.CreditRecordsStub(self._channels[1]), deadline_s, metadata
        )
        self.notifications = _WithDeadline(
            notifications_pb2_grpc.NotificationsStub(self._channels[2]), deadline_s, metadata
        )

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
