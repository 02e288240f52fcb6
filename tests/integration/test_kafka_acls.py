"""The generated KafkaUsers' ACLs (deploy/k8s, ipcoord.k8s) on a broker that enforces them: the
local broker's TLS listener, with StandardAuthorizer and no access without an ACL, as a Strimzi
cluster with `authorization: simple`. Each service runs as its own principal, User:CN=ipcoord-
<service> (a certificate from the local CA), with exactly its user's ACLs, and does its work;
what those ACLs do not grant is refused; a bureau system's example user writes reports and
nothing else."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from ipcoord.client.grpc import Tls
from ipcoord.client.publisher import Publisher
from ipcoord.platform import codec
from ipcoord.platform.topics import CASES, CREDIT, DEADLETTER, INTAKE_SUBMISSIONS, full_name
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import credit_pb2_grpc, intake_pb2_grpc, notifications_pb2_grpc
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N
from kafka import KafkaProducer
from kafka.errors import TopicAuthorizationFailedError
from support.kafka import produce, produce_envelopes, records_published
from support.kafka_acls import (
    EXAMPLE_USERS,
    SERVICE_USERS,
    ClientCertificate,
    granted,
    issue_client_certificate,
    kafka_users,
)
from support.notifications import case_facts
from support.reports import report, uscc
from support.serving import Replica, until_available, wait_for


def _serve(settings, tmp_path: Path, listener, service: str) -> tuple[Replica, ClientCertificate]:
    """One replica of ``service`` on the TLS listener as User:CN=ipcoord-<service>."""
    address, tls_dir = listener
    certificate = issue_client_certificate(tls_dir, f"ipcoord-{service}", tmp_path / "pki")
    env = certificate.env(address)
    return Replica(settings, service, tmp_path, f"{service}-acl", env=env), certificate


def _stops_at_start(settings, tmp_path: Path, listener, service: str) -> str:
    """``ipcoord serve <service>`` exits with status 1; its one error line."""
    replica, _ = _serve(settings, tmp_path, listener, service)
    try:
        assert replica.process.wait(timeout=60) == 1
    finally:
        replica.stop()
    (line,) = [line for line in replica.log.read_text().splitlines() if line.startswith("error")]
    return line


def _no_refusal(replica: Replica) -> None:
    """No client of the service was refused anything: aiokafka logs a refusal once ("Topic ...
    is not authorized for this client") and goes on, so the log is the proof (the start-up
    check, platform/kafka_access.py, covers only the topics a service consumes)."""
    refusals = [line for line in replica.log.read_text().splitlines() if "not authorized" in line]
    assert not refusals, refusals


def _producer(address: str, certificate: ClientCertificate) -> KafkaProducer:
    """A bureau system's producer (client/publisher.py): idempotent, acks=all, over TLS."""
    return KafkaProducer(
        bootstrap_servers=address,
        security_protocol="SSL",
        ssl_cafile=str(certificate.ca),
        ssl_certfile=str(certificate.cert),
        ssl_keyfile=str(certificate.key),
        acks="all",
        enable_idempotence=True,
        max_block_ms=20_000,
    )


def _refused(producer: KafkaProducer, topic: str) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        producer.send(topic, key=b"k", value=b"v").get(timeout=20)


def test_intake_files_a_report_with_its_acls_and_writes_nothing_else(
    settings, tmp_path, tls_listener
):
    user = kafka_users(SERVICE_USERS)["ipcoord-intake"]
    with granted(settings, user):
        replica, certificate = _serve(settings, tmp_path, tls_listener, "intake")
        try:
            replica.wait_serving()
            with grpc.insecure_channel(replica.address) as channel:
                answer = until_available(
                    intake_pb2_grpc.CaseIntakeStub(channel).SubmitReport,
                    S.SubmitReportRequest(report=report("ACL-1", respondent_uscc=uscc(601))),
                    metadata=(("x-ipcoord-bureau", "ipb-sz"),),
                )
            assert answer.outcome == S.SUBMISSION_OUTCOME_FILED
            # A record that is no envelope goes to the dead letters: intake writes there too.
            produce(settings, INTAKE_SUBMISSIONS, [(b"ipb-sz/ACL-2", b"not an envelope")])
            wait_for(lambda: records_published(settings, DEADLETTER) == 1, [replica], 30)

            producer = _producer(tls_listener[0], certificate)
            try:
                _refused(producer, full_name(CREDIT, settings.topic_prefix))
            finally:
                producer.close()
            _no_refusal(replica)
        finally:
            replica.stop()


def test_credit_records_and_answers_with_its_acls(settings, tmp_path, tls_listener):
    user = kafka_users(SERVICE_USERS)["ipcoord-credit"]
    cnipa = (("x-ipcoord-bureau", "cnipa"),)
    entity = uscc(602)
    with granted(settings, user):
        replica, _ = _serve(settings, tmp_path, tls_listener, "credit")
        try:
            replica.wait_serving()
            with grpc.insecure_channel(replica.address) as channel:
                stub = credit_pb2_grpc.CreditRecordsStub(channel)
                recorded = until_available(
                    stub.RecordDishonesty,
                    C.RecordDishonestyRequest(
                        entity={"uscc": entity, "name": "Entity ACL"},
                        behaviour=C.DISHONEST_BEHAVIOUR_REFUSAL_TO_COMPLY,  # listed at once
                    ),
                    metadata=cnipa,
                )
                assert recorded.entity.uscc == entity
                check = until_available(
                    stub.CheckDiscipline, C.CheckDisciplineRequest(uscc=entity), metadata=cnipa
                )
            assert check.applies and check.listing_id == f"L-{entity}-1"
            _no_refusal(replica)
        finally:
            replica.stop()


def test_notifications_routes_and_answers_with_its_acls(settings, tmp_path, tls_listener):
    user = kafka_users(SERVICE_USERS)["ipcoord-notifications"]
    ipb_sz = (("x-ipcoord-bureau", "ipb-sz"),)
    with granted(settings, user):
        replica, _ = _serve(settings, tmp_path, tls_listener, "notifications")
        try:
            replica.wait_serving()
            # Intake's fact, written as intake would (here by the super user, PLAINTEXT).
            produce_envelopes(settings, CASES, case_facts("C-ACL-1", 1, handling="ipb-sz"))
            with grpc.insecure_channel(replica.address) as channel:
                stub = notifications_pb2_grpc.NotificationsStub(channel)

                def inbox() -> list[str]:
                    page = until_available(
                        stub.ListNotifications, N.ListNotificationsRequest(), metadata=ipb_sz
                    )
                    return [n.record.subject_key for n in page.notifications]

                wait_for(lambda: inbox() == ["C-ACL-1"], [replica], 30)
                kept = until_available(
                    stub.PutSubscription,
                    N.Subscription(subscription_id="S-ACL", channels=[N.CHANNEL_STREAM]),
                    metadata=ipb_sz,
                )
            assert kept.recipient == "ipb-sz"
            _no_refusal(replica)
        finally:
            replica.stop()


def test_a_bureau_system_writes_reports_and_nothing_else(settings, tmp_path, tls_listener):
    address, tls_dir = tls_listener
    user = kafka_users(EXAMPLE_USERS)["ipb-sz"]
    certificate = issue_client_certificate(tls_dir, "ipb-sz", tmp_path / "pki")
    tls = Tls(cert=certificate.cert, key=certificate.key, ca=certificate.ca)
    with granted(settings, user):
        with Publisher(address, "ipb-sz", tls=tls, topic_prefix=settings.topic_prefix) as bureau:
            assert bureau.submit(report("ACL-B1", respondent_uscc=uscc(603)))

        producer = _producer(address, certificate)
        try:
            fact = case_facts("C-ACL-B", 1)[0]
            with pytest.raises(TopicAuthorizationFailedError):
                producer.send(
                    full_name(CASES, settings.topic_prefix),
                    key=fact.subject_key.encode(),
                    value=codec.encode(fact),
                ).get(timeout=20)
        finally:
            producer.close()


@pytest.mark.parametrize(
    ("topic", "kept", "says"),
    [
        ("ipcoord.credit.v1", ["Describe"], "may not read (no Read ACL)"),
        ("ipcoord.credit.v1", [], "cannot see"),
        ("ipcoord-intake-cases-changelog", ["Write", "Describe"], "may not read"),
    ],
)
def test_intake_without_read_on_a_topic_it_consumes_does_not_start(
    settings, tmp_path, tls_listener, topic, kept, says
):
    """Kafka would only log the refusal and the service would serve without that topic (no
    listings, or tables it cannot recover): it names the topic and stops instead."""
    user = kafka_users(SERVICE_USERS)["ipcoord-intake"]
    acls = [
        acl if acl["resource"]["name"] != topic else {**acl, "operations": kept}
        for acl in user["spec"]["authorization"]["acls"]
    ]
    short = {**user, "spec": {**user["spec"], "authorization": {"acls": acls}}}
    with granted(settings, short):
        line = _stops_at_start(settings, tmp_path, tls_listener, "intake")
    assert f"{says}" in line and f"{settings.topic_prefix}{topic}" in line, line


def test_credit_without_any_read_does_not_start(settings, tmp_path, tls_listener):
    """Every topic it consumes refused: all named, none left to fetch from."""
    user = kafka_users(SERVICE_USERS)["ipcoord-credit"]
    with granted(settings, user, leave_out=("Read",)):
        line = _stops_at_start(settings, tmp_path, tls_listener, "credit")
    assert "may not read (no Read ACL)" in line, line
    assert f"{settings.topic_prefix}ipcoord.cases.v1" in line, line
