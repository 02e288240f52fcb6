"""Production identity: the bureau is the CN of its mTLS client certificate."""

from __future__ import annotations

import grpc
import pytest
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.platform.grpc_server import create_server
from ipcoord.platform.identity import IdentityResolver
from ipcoord.platform.settings import Settings
from ipcoord.v1 import intake_pb2, intake_pb2_grpc
from support.grpc_probe import WhoAmI
from support.pki import ThrowawayCA


@pytest.fixture
async def tls_server(tmp_path):
    ca = ThrowawayCA()
    cert, key, client_ca = ca.write_server_files(tmp_path)
    settings = Settings(
        grpc_host="127.0.0.1",
        tls_cert_file=cert,
        tls_key_file=key,
        tls_client_ca_file=client_ca,
        bureaus="cnipa:ipa:100000,ipb-sz:ipa:440300",  # with TLS the registry is required
    )
    identity = IdentityResolver(BureauRegistry.demo(), insecure_dev_identity=False)
    running = await create_server(
        [WhoAmI(identity).registration()], settings, port=0, service="probe"
    )
    yield ca, running
    await running.stop(grace=0)


def _channel(ca: ThrowawayCA, port: int, client=None) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.cert_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    return grpc.aio.secure_channel(f"localhost:{port}", credentials)


async def test_client_certificate_names_the_bureau_and_headers_are_ignored(tls_server):
    ca, server = tls_server
    async with _channel(ca, server.port, ca.issue("ipb-sz", server=False)) as channel:
        stub = intake_pb2_grpc.CaseIntakeStub(channel)
        # The dev header cannot override the certificate outside insecure dev mode.
        reply = await stub.GetCase(
            intake_pb2.GetCaseRequest(), metadata=(("x-ipcoord-bureau", "cnipa"),), timeout=10
        )
        assert reply.case_id == "ipb-sz"


async def _get_case_status(channel: grpc.aio.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await intake_pb2_grpc.CaseIntakeStub(channel).GetCase(
            intake_pb2.GetCaseRequest(), timeout=10
        )
    return err.value.code()


async def test_certificate_of_unknown_bureau_is_denied(tls_server):
    ca, server = tls_server
    async with _channel(ca, server.port, ca.issue("stranger", server=False)) as channel:
        assert await _get_case_status(channel) == grpc.StatusCode.PERMISSION_DENIED


async def test_no_client_certificate_no_connection(tls_server):
    ca, server = tls_server
    async with _channel(ca, server.port) as channel:
        assert await _get_case_status(channel) == grpc.StatusCode.UNAVAILABLE


async def test_certificate_from_another_ca_is_refused(tls_server):
    ca, server = tls_server
    # Trusts the server, but presents a bureau certificate the server's CA did not sign.
    foreign = ThrowawayCA("someone else").issue("ipb-sz", server=False)
    async with _channel(ca, server.port, foreign) as channel:
        assert await _get_case_status(channel) == grpc.StatusCode.UNAVAILABLE
