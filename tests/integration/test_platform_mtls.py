"""Production identity: the bureau is the CN of its mTLS client certificate."""

from __future__ import annotations

import grpc
import pytest
from ipcoord.v1 import intake_pb2, intake_pb2_grpc
from support.pki import ThrowawayCA


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
