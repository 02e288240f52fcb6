from __future__ import annotations

from datetime import date

import pytest
from ipcoord.platform import codec, kafka_client
from ipcoord.platform.bureaus import BureauKind, BureauRegistry
from ipcoord.platform.deadletter import dead_letter
from ipcoord.platform.settings import ProcessingGuarantee, Settings
from ipcoord.platform.topics import CASES, INTAKE_CASEWORK, TOPICS, by_name, full_name
from ipcoord.v1 import intake_pb2
from pydantic import ValidationError
from support.pki import ThrowawayCA


@pytest.fixture(autouse=True)
def _no_configuration(monkeypatch):
    """Each test starts from an environment without ipcoord or Kafka variables."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("IPCOORD_") or name.upper() == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:9092, b:9092")
    monkeypatch.setenv("IPCOORD_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("IPCOORD_PROCESSING_GUARANTEE", "at_least_once")
    monkeypatch.setenv("IPCOORD_GRPC_PORT", "0")
    monkeypatch.setenv("IPCOORD_HOLIDAYS", "2026-10-01,2026-10-02")
    monkeypatch.setenv("IPCOORD_EXTRA_WORKING_DAYS", " 2026-10-10 ")
    monkeypatch.setenv("IPCOORD_USCC_ALLOW_LIST", "91350100m000100y43, 91440300MA5DXXXX0X")
    monkeypatch.setenv("IPCOORD_BUREAUS", "ipb-gd:ipa:440000,ppc-shenzhen:ppc:440300")
    monkeypatch.setenv("IPCOORD_LOG_LEVEL", "debug")
    s = Settings()
    assert s.bootstrap_servers == ["a:9092", "b:9092"]
    assert s.kafka_bootstrap_servers == "a:9092,b:9092"
    assert s.topic_prefix == "staging."
    assert s.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE
    assert s.grpc_port == 0
    assert s.holidays == {date(2026, 10, 1), date(2026, 10, 2)}
    assert s.extra_working_days == {date(2026, 10, 10)}
    assert s.uscc_allow_list == {"91350100M000100Y43", "91440300MA5DXXXX0X"}  # upper-cased
    assert s.bureau_registry.get("ppc-shenzhen").kind is BureauKind.PROTECTION_CENTER
    assert "cnipa" not in s.bureau_registry
    assert s.log_level == "DEBUG"


def test_settings_defaults():
    s = Settings()
    assert s.bootstrap_servers == ["localhost:9092"]
    assert s.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE
    assert s.holidays == s.extra_working_days == s.uscc_allow_list == frozenset()
    assert (s.log_level, s.log_format) == ("INFO", "json")


def test_settings_reject_bad_values(monkeypatch):
    monkeypatch.setenv("IPCOORD_TOPIC_PREFIX", "bad prefix/")
    with pytest.raises(ValidationError, match="IPCOORD_TOPIC_PREFIX"):
        Settings()


def test_bureau_registry_file_path(monkeypatch, tmp_path):
    registry = tmp_path / "bureaus.txt"
    registry.write_text("# bureau:kind:division\nipb-gd:ipa:440000\ncourt-sz:court:440300\n")
    monkeypatch.setenv("IPCOORD_BUREAUS", str(registry))
    assert {b.id for b in Settings().bureau_registry} == {"ipb-gd", "court-sz"}


def test_unset_bureau_registry_without_tls_is_the_demo_with_a_warning(caplog):
    s = Settings()
    assert s.bureaus is None
    with caplog.at_level("WARNING", logger="ipcoord.platform.settings"):
        assert "cnipa" in s.bureau_registry
    assert "IPCOORD_BUREAUS is unset: using the demo bureaus" in caplog.text


# One test per refusal: each fails at Settings() and names its variable.


def test_refuses_an_explicitly_empty_bureau_registry(monkeypatch):
    monkeypatch.setenv("IPCOORD_BUREAUS", "")
    with pytest.raises(ValidationError, match=r"IPCOORD_BUREAUS\n.*is empty"):
        Settings()


def test_refuses_an_invalid_bureau_registry_line(monkeypatch):
    monkeypatch.setenv("IPCOORD_BUREAUS", "ipb-gd:ipa:440000\nx1:ipa:44")
    with pytest.raises(ValidationError, match=r"IPCOORD_BUREAUS\n.*division '44' is not 6 digits"):
        Settings()


def test_refuses_a_bureau_registry_path_that_is_no_file(monkeypatch, tmp_path):
    monkeypatch.setenv("IPCOORD_BUREAUS", str(tmp_path / "missing.txt"))
    with pytest.raises(ValidationError, match=r"IPCOORD_BUREAUS\n.*nor a file"):
        Settings()


def test_refuses_an_unset_bureau_registry_with_tls(monkeypatch, tmp_path):
    monkeypatch.setenv("IPCOORD_TLS_CERT_FILE", str(tmp_path / "server.pem"))
    with pytest.raises(ValidationError, match="IPCOORD_BUREAUS is unset but TLS is configured"):
        Settings()
    monkeypatch.setenv("IPCOORD_BUREAUS", "ipb-gd:ipa:440000")
    assert "ipb-gd" in Settings().bureau_registry


def test_refuses_a_bad_holiday_date(monkeypatch):
    monkeypatch.setenv("IPCOORD_HOLIDAYS", "2026-10-01,2026-13-01")
    with pytest.raises(ValidationError, match=r"IPCOORD_HOLIDAYS\.\d+\n.*month value"):
        Settings()


def test_refuses_a_bad_extra_working_day(monkeypatch):
    monkeypatch.setenv("IPCOORD_EXTRA_WORKING_DAYS", "2026/10/10")
    with pytest.raises(ValidationError, match="IPCOORD_EXTRA_WORKING_DAYS"):
        Settings()


def test_refuses_a_day_both_holiday_and_working_day(monkeypatch):
    monkeypatch.setenv("IPCOORD_HOLIDAYS", "2026-10-10")
    monkeypatch.setenv("IPCOORD_EXTRA_WORKING_DAYS", "2026-10-10")
    with pytest.raises(ValidationError, match="IPCOORD_HOLIDAYS and IPCOORD_EXTRA_WORKING_DAYS"):
        Settings()


def test_refuses_exactly_once(monkeypatch):
    monkeypatch.setenv("IPCOORD_PROCESSING_GUARANTEE", "exactly_once")
    with pytest.raises(
        ValidationError, match=r"IPCOORD_PROCESSING_GUARANTEE\n.*exactly_once is not supported"
    ):
        Settings()


def test_refuses_an_invalid_log_level(monkeypatch):
    monkeypatch.setenv("IPCOORD_LOG_LEVEL", "verbose")
    with pytest.raises(ValidationError, match="IPCOORD_LOG_LEVEL"):
        Settings()


def test_refuses_an_invalid_log_format(monkeypatch):
    monkeypatch.setenv("IPCOORD_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="IPCOORD_LOG_FORMAT"):
        Settings()


def test_refuses_a_bootstrap_server_without_port(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "a:9092,b")
    with pytest.raises(ValidationError, match=r"KAFKA_BOOTSTRAP_SERVERS\n.*'b' is not host:port"):
        Settings()


def test_refuses_a_malformed_uscc_in_the_allow_list(monkeypatch):
    monkeypatch.setenv("IPCOORD_USCC_ALLOW_LIST", "91350100M000100Y43;91440300MA5DXXXX0X")
    with pytest.raises(ValidationError, match="IPCOORD_USCC_ALLOW_LIST"):
        Settings()


def test_kafka_tls_files_without_ssl_are_refused(monkeypatch, tmp_path):
    (tmp_path / "ca.crt").write_text("x")
    monkeypatch.setenv("IPCOORD_KAFKA_SSL_CA_FILE", str(tmp_path / "ca.crt"))
    with pytest.raises(ValidationError, match="IPCOORD_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"):
        Settings()


def test_kafka_tls_certificate_without_its_key_is_refused(monkeypatch, tmp_path):
    (tmp_path / "user.crt").write_text("x")
    monkeypatch.setenv("IPCOORD_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("IPCOORD_KAFKA_SSL_CERT_FILE", str(tmp_path / "user.crt"))
    with pytest.raises(ValidationError, match="go together"):
        Settings()


def test_a_missing_kafka_tls_file_is_refused_by_its_name(monkeypatch, tmp_path):
    monkeypatch.setenv("IPCOORD_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("IPCOORD_KAFKA_SSL_CA_FILE", str(tmp_path / "missing.crt"))
    with pytest.raises(
        ValidationError, match=r"IPCOORD_KAFKA_SSL_CA_FILE .*missing.crt is neither"
    ):
        Settings()


def test_kafka_tls_trusts_every_ca_of_a_directory_and_checks_the_key(monkeypatch, tmp_path):
    cert, _key, ca = ThrowawayCA().write_server_files(tmp_path)
    cas = tmp_path / "cluster-ca"  # a mounted Strimzi cluster CA Secret: ca.crt and old ones
    cas.mkdir()
    (cas / "ca.crt").write_bytes(ca.read_bytes())
    (cas / "ca-2026-01-01T00-00-00Z.crt").write_bytes(ThrowawayCA("old").cert_pem)
    monkeypatch.setenv("IPCOORD_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("IPCOORD_KAFKA_SSL_CA_FILE", str(cas))
    context = kafka_client.ssl_context(Settings())
    assert len(context.get_ca_certs()) == 2 and context.check_hostname
    monkeypatch.setenv("IPCOORD_KAFKA_SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("IPCOORD_KAFKA_SSL_KEY_FILE", str(tmp_path / "other.key"))
    (tmp_path / "other.key").write_bytes(ThrowawayCA().issue("x", server=True).key_pem)
    with pytest.raises(ValidationError, match="not a PEM certificate and its private key"):
        Settings()


def test_plaintext_kafka_has_no_tls_context():
    options = kafka_client.connection(Settings(KAFKA_BOOTSTRAP_SERVERS="a:9092,b:9092"))
    assert options == {"bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}


def test_topic_registry_is_complete_and_unique():
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    assert set(names) == {
        "ipcoord.intake.submissions.v1",
        "ipcoord.intake.control.v1",
        "ipcoord.intake.replies.v1",
        "ipcoord.intake.casework.v1",
        "ipcoord.cases.v1",
        "ipcoord.credit.v1",
        "ipcoord.credit.commands.v1",
        "ipcoord.credit.replies.v1",
        "ipcoord.discipline.feedback.v1",
        "ipcoord.notifications.v1",
        "ipcoord.notifications.routing.v1",
        "ipcoord.notifications.commands.v1",
        "ipcoord.notifications.replies.v1",
        "ipcoord.deadletter.v1",
    }
    for spec in TOPICS:
        assert spec.partitions >= 1
        assert spec.producers, spec.name
        assert spec.config()["cleanup.policy"] in {"delete", "compact"}
    assert by_name("ipcoord.cases.v1").partitions == 6
    # Credit's commands are partitioned like its tables and its facts: one writer per entity.
    assert (
        by_name("ipcoord.credit.commands.v1").partitions == by_name("ipcoord.credit.v1").partitions
    )
    # The recipients' writers number notifications in the partition their facts go to.
    assert (
        by_name("ipcoord.notifications.commands.v1").partitions
        == by_name("ipcoord.notifications.v1").partitions
    )
    assert full_name(by_name("ipcoord.cases.v1"), "t1.") == "t1.ipcoord.cases.v1"
    with pytest.raises(KeyError, match="unknown topic"):
        by_name("ipcoord.nope")


def test_bureau_registry_parses_and_validates():
    registry = BureauRegistry.parse("ipb-gd:ipa:440000\nppc-shenzhen:ppc:440300 # a comment")
    assert registry.get("ppc-shenzhen").kind is BureauKind.PROTECTION_CENTER
    assert "ipb-gd" in registry and "nobody" not in registry
    assert "cnipa" in BureauRegistry.demo()
    with pytest.raises(ValueError, match="is empty"):
        BureauRegistry.parse(" ")  # never the demo bureaus by default
    with pytest.raises(ValueError, match="listed twice"):
        BureauRegistry.parse("ipb-gd:ipa:440000,ipb-gd:ipa:440000")
    with pytest.raises(ValueError, match="6 digits"):
        BureauRegistry.parse("x1:ipa:44")
    with pytest.raises(ValueError, match="id:kind:division"):
        BureauRegistry.parse("x1:ipa")
    with pytest.raises(ValueError, match="kind 'spaceagency' is not one of ipa"):
        BureauRegistry.parse("x1:spaceagency:440000")


def test_dead_letter_keeps_original_and_finds_sender():
    env = codec.envelope(
        intake_pb2.CaseAccepted(case_id="c1"), producer_bureau="ipb-sz", subject_key="c1"
    )
    letter = dead_letter(
        value=codec.encode(env),
        key=b"c1",
        topic="t",
        partition=2,
        offset=7,
        reason="why",
        error_class="ValidationError",
        rejected_by="intake",
    )
    assert letter.original_value == codec.encode(env)
    assert (letter.source_partition, letter.source_offset) == (2, 7)
    assert letter.original_event_id == env.event_id
    assert letter.original_producer_bureau == "ipb-sz"
    garbage = dead_letter(
        value=b"\xff\xff",
        key=None,
        topic="t",
        partition=0,
        offset=0,
        reason="r",
        error_class="DecodeError",
        rejected_by="intake",
    )
    assert garbage.original_event_id == ""


def test_dead_letter_of_an_oversized_record_keeps_a_bounded_copy():
    from ipcoord.platform.deadletter import MAX_ORIGINAL_BYTES

    big = b"\x00" * (MAX_ORIGINAL_BYTES * 4)
    letter = dead_letter(
        value=big,
        key=b"k",
        topic="t",
        partition=0,
        offset=9,
        reason="too big",
        error_class="Oversized",
        rejected_by="intake",
    )
    assert len(letter.original_value) == MAX_ORIGINAL_BYTES
    assert letter.original_size == len(big) and letter.original_truncated
    assert len(letter.SerializeToString()) < MAX_ORIGINAL_BYTES + 1024


def test_replica_id_is_stable_per_data_dir_and_unique_across_them(monkeypatch, tmp_path):
    """Static membership needs one id per replica: two replicas with one id fence each other."""
    monkeypatch.delenv("IPCOORD_REPLICA_ID", raising=False)
    a = Settings(data_dir=tmp_path / "a").replica_id
    assert a == Settings(data_dir=tmp_path / "a").replica_id
    assert a != Settings(data_dir=tmp_path / "b").replica_id
    monkeypatch.setenv("IPCOORD_REPLICA_ID", "intake-0")
    assert Settings(data_dir=tmp_path / "a").replica_id == "intake-0"


def test_intake_case_writers_are_partitioned_like_the_cases_they_publish():
    # A case's writer and its facts on ipcoord.cases.v1 are in the same partition number:
    # the case partitions the matcher reaches are those of its facts' keys.
    assert INTAKE_CASEWORK.partitions == CASES.partitions
