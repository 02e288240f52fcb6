"""The bureau client as a bureau system uses it: a report published to the shared log becomes a
case intake answers for over gRPC; calls carry a deadline, UNAVAILABLE is retried by gRPC
itself, and the certificate from three files names the bureau."""

from __future__ import annotations

import asyncio
from concurrent import futures

import grpc
import pytest
from ipcoord.client import Publisher, Services, Tls
from ipcoord.v1 import intake_pb2 as S
from support.kafka import eventually
from support.reports import report, uscc


async def test_a_published_report_is_a_case_the_stubs_read(settings, intake):
    with Publisher(
        settings.kafka_bootstrap_servers, "ipb-sz", topic_prefix=settings.topic_prefix
    ) as log:
        event_id = await asyncio.to_thread(log.submit, report("CL-1", respondent_uscc=uscc(80)))
        with pytest.raises(ValueError, match="external_ref"):
            log.submit(S.ReportSubmitted())
    assert event_id
    filed = await eventually(lambda: intake.matcher_state.submissions.get("ipb-sz/CL-1"))
    address = f"127.0.0.1:{intake.grpc_port}"
    with Services(intake=address, dev_bureau="ipb-sz") as services:
        case = await asyncio.to_thread(
            services.intake.GetCase, S.GetCaseRequest(case_id=filed.case_id)
        )
    assert case.case_id == filed.case_id and case.handling_bureau == "ipb-sz"


class _FlakyIntake:
    """Answers GetCase UNAVAILABLE twice, then with the deadline the call arrived with."""

    def __init__(self) -> None:
        self.calls = 0

    def GetCase(self, request, context):
        self.calls += 1
        if self.calls <= 2:
            context.abort(grpc.StatusCode.UNAVAILABLE, "rebalancing")
        return S.CaseView(case_id=f"{context.time_remaining():.0f}")


def test_unavailable_is_retried_and_every_call_has_a_deadline():
    flaky = _FlakyIntake()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "ipcoord.v1.CaseIntake",
        {
            "GetCase": grpc.unary_unary_rpc_method_handler(
                flaky.GetCase,
                request_deserializer=S.GetCaseRequest.FromString,
                response_serializer=S.CaseView.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with Services(intake=f"127.0.0.1:{port}", dev_bureau="ipb-sz", deadline_s=30) as s:
            answer = s.intake.GetCase(S.GetCaseRequest(case_id="x"))
    finally:
        server.stop(0)
    assert flaky.calls == 3  # two UNAVAILABLE, retried by the channel
    assert 0 < int(answer.case_id) <= 30  # the deadline it was given


def test_services_need_a_certificate_or_a_dev_bureau():
    with pytest.raises(ValueError, match="tls"):
        Services()


async def test_the_certificate_from_three_files_names_the_bureau(tls_server, tmp_path):
    ca, running = tls_server
    bureau = ca.issue("ipb-sz", server=False)
    files = {"ipb-sz.crt": bureau.cert_pem, "ipb-sz.key": bureau.key_pem, "ca.crt": ca.cert_pem}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    tls = Tls(cert=tmp_path / "ipb-sz.crt", key=tmp_path / "ipb-sz.key", ca=tmp_path / "ca.crt")
    with Services(intake=f"localhost:{running.port}", tls=tls) as services:
        who = await asyncio.to_thread(services.intake.GetCase, S.GetCaseRequest())
    assert who.case_id == "ipb-sz"
