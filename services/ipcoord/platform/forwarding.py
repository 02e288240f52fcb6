"""Lookups answered on any replica: here when this replica holds the partitions a lookup reads,
otherwise by the replicas that own them (forwarded over gRPC, one hop at most).

A service's state is partitioned like its command topic, and each replica holds only the
partitions Faust assigned it. A lookup of one key (an entity's credit file) is forwarded to the
key's owner; a lookup that reads every partition (a person's listings, a page of listings) is
split: each owner answers for its own partitions, named in ``x-ipcoord-partitions``, and the
service merges the answers. Forwarding was chosen over a store every replica reads because the
owner's tables are the only current copy (see docs/operations.md); the owner is found in
Faust's assignment (platform/ownership.py). The forwarding replica names the original caller in
``x-ipcoord-forwarded-for``, which the owner believes only from a replica's certificate
(platform/identity.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from ipcoord.platform.identity import FORWARDED_FOR_HEADER, IdentityResolver, replica_name
from ipcoord.platform.ownership import PartitionOwnership
from ipcoord.platform.settings import Settings

PARTITIONS_HEADER = "x-ipcoord-partitions"
FORWARD_TIMEOUT_S = 5.0


class Peers:
    """One gRPC channel per other replica, kept open; with TLS, a replica presents the
    service's replica certificate (its server certificate, Common Name ``ipcoord-<service>``)
    and checks the peer's against the same name."""

    def __init__(self, settings: Settings, replica_name: str) -> None:
        self._settings = settings
        self._replica_name = replica_name
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self._open(address)
        return channel

    def _open(self, address: str) -> grpc.aio.Channel:
        options = [("grpc.max_receive_message_length", self._settings.max_message_bytes)]
        s = self._settings
        if not (s.tls_cert_file and s.tls_key_file):
            return grpc.aio.insecure_channel(address, options=options)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=s.tls_client_ca_file.read_bytes() if s.tls_client_ca_file else None,
            private_key=s.tls_key_file.read_bytes(),
            certificate_chain=s.tls_cert_file.read_bytes(),
        )
        # Replicas are dialled by address (a pod IP): the certificate names the service.
        options.append(("grpc.ssl_target_name_override", self._replica_name))
        return grpc.aio.secure_channel(address, credentials, options=options)

    async def start(self) -> None:
        """Channels open on first use (a runner companion: started and stopped with it)."""

    async def stop(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(c.close() for c in channels))


class OwnerRefused(Exception):
    """The owner of a partition answered a forwarded lookup with an error (or not in time)."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata=()) -> None:
        super().__init__(details)
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata

    async def abort(self, context: grpc.aio.ServicerContext) -> None:
        await context.abort(self.code, self.details, trailing_metadata=self.trailing_metadata)


def _serialise(message: Message) -> bytes:
    return message.SerializeToString()


class LookupRouter:
    """Where a lookup is answered. ``ready(p)``: this replica owns partition ``p`` and its
    tables (and anything derived from them) are current."""

    def __init__(
        self,
        service: ServiceDescriptor,
        ownership: PartitionOwnership,
        ready: Callable[[int], bool],
        identity: IdentityResolver,
        peers: Peers,
        *,
        partitions: int,
        own_address: Callable[[], str],
    ) -> None:
        self._service = service
        self._ownership = ownership
        self._ready = ready
        self._identity = identity
        self._peers = peers
        self._partitions = frozenset(range(partitions))
        self._own_address = own_address
        self._parsers = {
            m.name: message_factory.GetMessageClass(m.output_type).FromString
            for m in service.methods
        }

    def answerable(self) -> bool:
        """Whether a lookup of any partition would be answered from here now: each partition
        is ready here or has another replica to forward to (what readiness reports)."""
        own = self._own_address()
        for partition in self._partitions:
            if not self._ready(partition):
                owner = self._ownership.owner(partition)
                if owner is None or owner == own:
                    return False
        return True

    async def one(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        request: Message,
        partition: int,
        answer: Callable[[], Message],
    ) -> Message:
        """A lookup that reads one partition: answered here or by its owner."""
        caller = await self._identity.caller_bureau(context)
        if self._ready(partition):
            return answer()
        if self._forwarded(context):
            await self._unavailable(context, [partition])
        owner = self._ownership.owner(partition)
        if owner is None or owner == self._own_address():
            await self._unavailable(context, [partition])
        try:
            return await self._forward(context, method, request, caller, owner, None)
        except OwnerRefused as refused:
            await refused.abort(context)

    async def stream(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        request: Message,
        partition: int,
        answer: Callable[[], AsyncIterator[Message]],
    ) -> AsyncIterator[Message]:
        """A server stream that reads one partition: served here, or relayed from its owner
        for as long as the owner serves it (it ends when the partition moves; the client
        resumes where it was)."""
        caller = await self._identity.caller_bureau(context)
        if self._ready(partition):
            async for message in answer():
                yield message
            return
        if self._forwarded(context):
            await self._unavailable(context, [partition])
        owner = self._ownership.owner(partition)
        if owner is None or owner == self._own_address():
            await self._unavailable(context, [partition])
        call = self._peers.channel(owner).unary_stream(
            f"/{self._service.full_name}/{method}",
            request_serializer=_serialise,
            response_deserializer=self._parsers[method],
        )(request, metadata=[(FORWARDED_FOR_HEADER, caller)])
        try:
            async for message in call:
                yield message
        except grpc.aio.AioRpcError as error:
            trailing = tuple(error.trailing_metadata() or ())
            await context.abort(error.code(), error.details() or "", trailing_metadata=trailing)
        finally:
            call.cancel()  # the client went away: so does the relayed stream

    async def every(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        request: Message,
        answer: Callable[[frozenset[int]], Message],
        merge: Callable[[Sequence[Message]], Message],
    ) -> Message:
        """A lookup that reads every partition: this replica answers for those it holds, each
        owner for its own, and ``merge`` makes one answer of them. A forwarded call answers
        for exactly the partitions it names."""
        caller = await self._identity.caller_bureau(context)
        asked = await self._asked_partitions(context)
        if asked is None and self._forwarded(context):
            asked = self._partitions  # forwarded without naming partitions: all, from here
        if asked is not None:
            missing = sorted(p for p in asked if not self._ready(p))
            if missing:
                await self._unavailable(context, missing)
            return answer(asked)
        here = frozenset(p for p in self._partitions if self._ready(p))
        elsewhere: dict[str, set[int]] = {}
        for partition in sorted(self._partitions - here):
            owner = self._ownership.owner(partition)
            if owner is None or owner == self._own_address():
                await self._unavailable(context, [partition])
            elsewhere.setdefault(owner, set()).add(partition)
        answers = await asyncio.gather(
            *(
                self._forward(context, method, request, caller, owner, parts)
                for owner, parts in elsewhere.items()
            ),
            return_exceptions=True,
        )
        for failed in answers:
            if isinstance(failed, OwnerRefused):
                await failed.abort(context)  # the call ends with one owner's refusal
            if isinstance(failed, BaseException):
                raise failed
        if here:
            answers.append(answer(here))
        return merge(answers)

    # ---------------------------------------------------------------- plumbing

    def _forwarded(self, context: grpc.aio.ServicerContext) -> bool:
        return FORWARDED_FOR_HEADER in dict(context.invocation_metadata() or ())

    async def _asked_partitions(self, context: grpc.aio.ServicerContext) -> frozenset[int] | None:
        """The partitions a forwarding replica asks this one to answer for (None: not a
        forwarded call). The caller is already known to be a replica."""
        value = dict(context.invocation_metadata() or ()).get(PARTITIONS_HEADER)
        if value is None or not self._forwarded(context):
            return None
        try:
            asked = frozenset(int(p) for p in value.split(","))
        except ValueError:
            asked = frozenset({-1})
        if not asked or not asked <= self._partitions:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"{PARTITIONS_HEADER}: bad value {value!r}"
            )
        return asked

    async def _forward(
        self,
        context: grpc.aio.ServicerContext,
        method: str,
        request: Message,
        caller: str,
        owner: str,
        partitions: Iterable[int] | None,
    ) -> Message:
        """The owner's answer; its refusal (or its silence) as ``OwnerRefused``."""
        call = self._peers.channel(owner).unary_unary(
            f"/{self._service.full_name}/{method}",
            request_serializer=_serialise,
            response_deserializer=self._parsers[method],
        )
        metadata = [(FORWARDED_FOR_HEADER, caller)]
        if partitions is not None:
            metadata.append((PARTITIONS_HEADER, ",".join(map(str, sorted(partitions)))))
        remaining = context.time_remaining()
        timeout = FORWARD_TIMEOUT_S if remaining is None else min(remaining, FORWARD_TIMEOUT_S)
        try:
            return await call(request, metadata=metadata, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                # A lookup: asking again is harmless.
                raise OwnerRefused(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the replica at {owner} did not answer in time: {error.details()}",
                ) from error
            # The owner's answer as it gave it, with its rich details (google.rpc.Status).
            # grpc.aio's abort takes the trailing metadata as a tuple of pairs only.
            trailing = tuple(error.trailing_metadata() or ())
            raise OwnerRefused(error.code(), error.details() or "", trailing) from error

    async def _unavailable(self, context: grpc.aio.ServicerContext, partitions) -> None:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE,
            f"partition(s) {', '.join(map(str, partitions))} of this lookup are not ready on "
            "any replica reachable from here (a rebalance or a recovery is under way); "
            "ask again shortly",
        )


class ReplicaRouting:
    """What a service's composition root wires for lookups on any replica: the router, the
    channels to the other replicas (a runner companion), and the announcement of this
    replica's address once its gRPC server is bound."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        grpc_service: ServiceDescriptor,
        ownership: PartitionOwnership,
        ready: Callable[[int], bool],
        identity: IdentityResolver,
        *,
        partitions: int,
    ) -> None:
        self._settings, self._ownership, self._address = settings, ownership, ""
        self._grpc_service, self._identity = grpc_service, identity
        self.peers = Peers(settings, replica_name(service))
        self._routers: list[LookupRouter] = []
        self.router = self.router_of(ownership, ready, partitions=partitions)

    def router_of(
        self,
        ownership: PartitionOwnership,
        ready: Callable[[int], bool],
        *,
        partitions: int,
        grpc_service: ServiceDescriptor | None = None,
    ) -> LookupRouter:
        """A router for lookups of another partitioned state of the same service (its own
        topic's ownership), over the same channels; ``grpc_service``: the service its lookups
        are methods of, when not the service's main one (lookups between its replicas)."""
        router = LookupRouter(
            grpc_service or self._grpc_service,
            ownership,
            ready,
            self._identity,
            self.peers,
            partitions=partitions,
            own_address=lambda: self._address,
        )
        self._routers.append(router)
        return router

    def answerable(self) -> bool:
        """Readiness: every lookup of every router is answered here or by a known owner."""
        return all(router.answerable() for router in self._routers)

    def announce(self, app, port: int, *also: PartitionOwnership) -> None:
        """Before the app joins its group: this replica's address, for the others (``also``:
        the ownership of another topic of the same app, which learns its own address too)."""
        self._address = f"{self._settings.advertised_host}:{port}"
        for ownership in (self._ownership, *also):
            ownership.advertise(app, self._address)
