"""Lookups on any replica (platform/forwarding.py) between real gRPC servers: a lookup of one
partition goes to its owner and back with the caller's identity; a lookup of every partition is
answered by each owner for its own; no second hop; with mTLS, only a replica's certificate may
name another caller."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.errors import NotFound
from ipcoord.platform.forwarding import FORWARDED_FOR_HEADER, LookupRouter, Peers
from ipcoord.platform.grpc_errors import abort_with
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.settings import Settings
from ipcoord.v1 import intake_pb2 as I
from ipcoord.v1 import intake_pb2_grpc
from support.pki import ThrowawayCA

PARTITIONS = 6
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
REPLICA = "ipcoord-probe"


class Owners:
    """The group's assignment, as PartitionOwnership reports it."""

    def __init__(self) -> None:
        self.of: dict[int, str] = {}

    def owner(self, partition: int) -> str | None:
        return self.of.get(partition)


class Replica(intake_pb2_grpc.CaseIntakeServicer):
    """GetCase reads the partition named by the case id; ListCases reads every partition.
    Each answer says which replica gave it and for whom."""

    def __init__(self, name: str, owners: Owners, settings: Settings, identity) -> None:
        self.name, self.ready, self.missing = name, set(), set()
        self.address = ""
        self.peers = Peers(settings, REPLICA)
        self.router = LookupRouter(
            I.DESCRIPTOR.services_by_name["CaseIntake"],
            owners,
            lambda p: p in self.ready,
            identity,
            self.peers,
            partitions=PARTITIONS,
            own_address=lambda: self.address,
        )
        self._identity = identity

    async def GetCase(self, request, context):
        caller = await self._identity.caller_bureau(context)
        if request.case_id in self.missing and int(request.case_id) in self.ready:
            await abort_with(context, NotFound(f"no case {request.case_id}"))
        return await self.router.one(
            context,
            "GetCase",
            request,
            int(request.case_id),
            lambda: I.CaseView(
                case_id=request.case_id, handling_bureau=self.name, submitting_bureau=caller
            ),
        )

    async def ListCases(self, request, context):
        return await self.router.every(
            context,
            "ListCases",
            request,
            lambda parts: I.ListCasesResponse(
                cases=[I.CaseView(case_id=str(p), handling_bureau=self.name) for p in sorted(parts)]
            ),
            lambda answers: I.ListCasesResponse(
                cases=sorted((c for a in answers for c in a.cases), key=lambda c: c.case_id)
            ),
        )


async def _pair(settings: Settings, identity) -> tuple[Owners, list[Replica], list]:
    owners = Owners()
    replicas = [Replica(n, owners, settings, identity) for n in ("a", "b")]
    servers = []
    for replica in replicas:
        registration = (intake_pb2_grpc.add_CaseIntakeServicer_to_server, replica, "x")
        server = await create_server([registration], settings, port=0, service="probe")
        replica.address = f"localhost:{server.port}"
        servers.append(server)
    a, b = replicas
    a.ready, b.ready = {0, 2, 4}, {1, 3, 5}
    owners.of = {p: (a if p % 2 == 0 else b).address for p in range(PARTITIONS)}
    return owners, replicas, servers


@pytest.fixture
async def insecure():
    settings = Settings(grpc_host="127.0.0.1", insecure_dev_identity=True)
    identity = IdentityResolver(BureauRegistry.demo(), insecure_dev_identity=True)
    owners, replicas, servers = await _pair(settings, identity)
    yield owners, replicas
    for replica, server in zip(replicas, servers, strict=True):
        await replica.peers.stop()
        await server.stop(grace=0)


def _stub(address: str, credentials=None) -> tuple[grpc.aio.Channel, object]:
    channel = (
        grpc.aio.secure_channel(address, credentials)
        if credentials
        else grpc.aio.insecure_channel(address)
    )
    return channel, intake_pb2_grpc.CaseIntakeStub(channel)


_AS_PPC = (("x-ipcoord-bureau", "ppc-shenzhen"),)


async def test_a_lookup_goes_to_the_owner_with_the_callers_identity(insecure):
    _, (a, _) = insecure
    channel, stub = _stub(a.address)
    async with channel:
        here = await stub.GetCase(I.GetCaseRequest(case_id="2"), metadata=_AS_PPC, timeout=10)
        there = await stub.GetCase(I.GetCaseRequest(case_id="3"), metadata=_AS_PPC, timeout=10)
    assert (here.handling_bureau, here.submitting_bureau) == ("a", "ppc-shenzhen")
    assert (there.handling_bureau, there.submitting_bureau) == ("b", "ppc-shenzhen")


async def test_a_lookup_of_every_partition_is_answered_by_each_owner_for_its_own(insecure):
    _, (a, b) = insecure
    for replica in (a, b):
        channel, stub = _stub(replica.address)
        async with channel:
            answer = await stub.ListCases(I.ListCasesRequest(), metadata=_AS_PPC, timeout=10)
        assert [(c.case_id, c.handling_bureau) for c in answer.cases] == [
            (str(p), "a" if p % 2 == 0 else "b") for p in range(PARTITIONS)
        ]


async def test_the_owners_refusal_reaches_the_caller_as_the_owner_gave_it(insecure):
    _, (a, b) = insecure
    b.missing.add("3")
    channel, stub = _stub(a.address)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.GetCase(I.GetCaseRequest(case_id="3"), metadata=_AS_PPC, timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert error.value.details() == "no case 3"


async def _status(call, request, metadata=_AS_PPC) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, metadata=metadata, timeout=10)
    return error.value.code()


async def test_an_owner_that_is_not_ready_says_unavailable_and_nobody_forwards_twice(insecure):
    owners, (a, b) = insecure
    b.ready = {1, 3}  # 5 is still recovering on b
    channel, stub = _stub(a.address)
    async with channel:
        assert await _status(stub.GetCase, I.GetCaseRequest(case_id="5")) == UNAVAILABLE
        assert await _status(stub.ListCases, I.ListCasesRequest()) == UNAVAILABLE
        # The assignment names a itself (it is about to recover 5): a does not call itself.
        owners.of[5] = a.address
        assert await _status(stub.GetCase, I.GetCaseRequest(case_id="5")) == UNAVAILABLE
    # A forwarded call is answered where it lands or not at all: b, asked for 5 by a replica,
    # does not pass it on to a.
    channel, stub = _stub(b.address)
    async with channel:
        forwarded = ((FORWARDED_FOR_HEADER, "ppc-shenzhen"),)
        assert await _status(stub.GetCase, I.GetCaseRequest(case_id="5"), forwarded) == UNAVAILABLE


@pytest.fixture
async def mtls(tmp_path: Path):
    ca = ThrowawayCA()
    cert, key, client_ca = ca.write_server_files(tmp_path, REPLICA)
    settings = Settings(
        grpc_host="127.0.0.1",
        tls_cert_file=cert,
        tls_key_file=key,
        tls_client_ca_file=client_ca,
        bureaus="cnipa:ipa:100000,ipb-sz:ipa:440300",
    )
    identity = IdentityResolver(
        BureauRegistry.demo(), insecure_dev_identity=False, replica_name=REPLICA
    )
    _, replicas, servers = await _pair(settings, identity)
    yield ca, replicas
    for replica, server in zip(replicas, servers, strict=True):
        await replica.peers.stop()
        await server.stop(grace=0)


def _credentials(ca: ThrowawayCA, name: str, *, replica: bool = False):
    issued = ca.issue(name, server=replica, client=True)
    return grpc.ssl_channel_credentials(
        root_certificates=ca.cert_pem,
        private_key=issued.key_pem,
        certificate_chain=issued.cert_pem,
    )


async def test_with_mtls_replicas_forward_and_only_a_replica_may_name_the_caller(mtls):
    ca, (a, _) = mtls
    channel, stub = _stub(a.address, _credentials(ca, "ipb-sz"))
    async with channel:
        there = await stub.GetCase(I.GetCaseRequest(case_id="3"), timeout=10)
        # Proven by ipb-sz's certificate to a, which named it to b.
        assert (there.handling_bureau, there.submitting_bureau) == ("b", "ipb-sz")
        every = await stub.ListCases(I.ListCasesRequest(), timeout=10)
        assert len(every.cases) == PARTITIONS
        # A bureau claiming to forward for another is refused, whatever it names.
        forged = ((FORWARDED_FOR_HEADER, "cnipa"),)
        assert (
            await _status(stub.GetCase, I.GetCaseRequest(case_id="2"), forged)
            == grpc.StatusCode.PERMISSION_DENIED
        )
    # A replica's own certificate is no bureau: it may only forward for one.
    channel, stub = _stub(a.address, _credentials(ca, REPLICA, replica=True))
    async with channel:
        assert (
            await _status(stub.GetCase, I.GetCaseRequest(case_id="2"), ())
            == grpc.StatusCode.PERMISSION_DENIED
        )
