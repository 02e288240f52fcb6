"""The `ipcoord` command without services: every command's help, the one-line errors a user
meets (nothing listening, no broker, bad configuration, bad input), reading report files and
a batch's outcomes."""

from __future__ import annotations

import json
import time
import types

import grpc
import pytest
from click.testing import CliRunner
from ipcoord.cli import main
from ipcoord.client.batch import IN_FLIGHT, BatchStopped, submit_all
from ipcoord.client.report_files import ReportLine, read_reports
from ipcoord.platform.log_reader import topic_spec
from ipcoord.v1 import common_pb2
from ipcoord.v1 import intake_pb2 as S
from support.reports import RIGHT_HOLDER, uscc

COMMANDS = [
    ["serve"],
    ["submit"],
    ["case"],
    ["case", "show"],
    ["case", "list"],
    ["action", "progress"],
    ["credit", "check"],
    ["credit", "profile"],
    ["notifications", "watch"],
    ["notifications", "inbox"],
    ["tail"],
    ["replay"],
    ["dead-letters"],
    ["demo"],
    ["topics"],
    ["topics", "create"],
    ["topics", "describe"],
]


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "ipcoord")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_unreachable_broker_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:1")
    line = _one_line_error(CliRunner().invoke(main, ["topics", "create"]))
    assert "cannot reach Kafka at localhost:1" in line


def test_a_service_not_listening_is_a_clear_error():
    args = ["--intake", "localhost:1", "--bureau", "ipb-sz", "--deadline", "2", "case", "show"]
    line = _one_line_error(CliRunner().invoke(main, [*args, "C-1"]))
    assert line.startswith("error: intake at localhost:1: ") and "make dev" in line


def test_a_caller_must_say_who_it_is():
    line = _one_line_error(CliRunner().invoke(main, ["case", "show", "C-1"]))
    assert "--bureau" in line and "--tls-cert" in line


def test_invalid_configuration_names_the_variable(monkeypatch):
    monkeypatch.setenv("IPCOORD_GRPC_PORT", "not-a-port")
    line = _one_line_error(CliRunner().invoke(main, ["serve", "intake"]))
    assert "invalid configuration" in line and "IPCOORD_GRPC_PORT" in line


def test_unknown_service_is_refused():
    result = CliRunner().invoke(main, ["serve", "billing"])
    assert result.exit_code == 2
    assert "intake" in result.output


@pytest.mark.parametrize(
    "args",
    [["serve", "billing"], ["--nope"], ["case", "list", "--status", "nope"], ["case", "show"]],
)
def test_a_usage_mistake_is_one_line_naming_where_to_look(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--help`" in lines[0]


def test_an_unknown_topic_names_the_known_ones():
    line = _one_line_error(CliRunner().invoke(main, ["tail", "nonsense"]))
    assert "cases, credit" in line


@pytest.mark.parametrize(
    ("given", "topic"),
    [
        ("credit", "ipcoord.credit.v1"),
        ("credit.commands", "ipcoord.credit.commands.v1"),
        ("ipcoord.notifications.v1", "ipcoord.notifications.v1"),
        ("deadletter", "ipcoord.deadletter.v1"),
    ],
)
def test_topics_are_named_by_name_short_name_or_a_unique_part(given, topic):
    assert topic_spec(given).name == topic


def test_a_missing_report_file_is_a_clear_error(tmp_path):
    args = ["--bureau", "ipb-sz", "submit", str(tmp_path / "missing.jsonl")]
    line = _one_line_error(CliRunner().invoke(main, args))
    assert line.startswith("error: ") and "no such file" in line and "intake" not in line


def test_reports_are_read_from_json_lines_with_each_bad_line_named(tmp_path):
    path = tmp_path / "reports.jsonl"
    good = {
        "external_ref": "R-1",
        "right_holder": {"uscc": RIGHT_HOLDER},
        "respondents": [{"entity": {"uscc": uscc(3)}}],
        "infringement_type": "INFRINGEMENT_TYPE_TRADEMARK",
    }
    path.write_text(json.dumps(good) + "\n\n{not json\n" + '{"no_such_field": 1}\n')
    lines = list(read_reports(path))
    assert [(line.line, line.report is not None) for line in lines] == [
        (1, True),
        (3, False),
        (4, False),
    ]
    assert lines[0].report.respondents[0].entity.uscc == uscc(3)
    assert "no_such_field" in lines[2].error


def test_reports_are_read_from_csv_with_named_enums(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text(
        "external_ref,respondent_uscc,shop_url,platform,infringement_type,product_fingerprints\n"
        f"R-1,{uscc(4)},https://s.example/1,taobao,trademark,a;b\n"
        "R-2,,,,perfume,\n"
    )
    first, second = read_reports(path)
    assert first.report.infringement_type == common_pb2.INFRINGEMENT_TYPE_TRADEMARK
    assert first.report.respondents[0].online_identifiers[0].shop_url == "https://s.example/1"
    assert list(first.report.product_fingerprints) == ["a", "b"]
    assert second.report is None and "'perfume' is not one of" in second.error


def test_a_csv_with_an_unknown_column_is_refused(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text("external_ref,colour\nR-1,red\n")
    with pytest.raises(ValueError, match="unknown column"):
        list(read_reports(path))


class _Unavailable(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "connection refused"


class _Invalid(_Unavailable):
    def code(self):
        return grpc.StatusCode.INVALID_ARGUMENT


class _Intake:
    """SubmitReport that refuses a report named BAD, and everything once ``down``."""

    def __init__(self, down_after: int) -> None:
        self.calls, self._down_after = 0, down_after

    def SubmitReport(self, request):
        self.calls += 1
        call = self.calls
        time.sleep(0.01)
        if call > self._down_after:
            raise _Unavailable()
        if request.report.external_ref == "BAD":
            raise _Invalid()
        return S.SubmitReportResponse(case_id="C", outcome=S.SUBMISSION_OUTCOME_FILED)


def _lines(*refs: str) -> list[ReportLine]:
    return [ReportLine(n, S.ReportSubmitted(external_ref=r)) for n, r in enumerate(refs, 1)]


def test_a_refused_report_is_its_outcome_and_the_batch_goes_on():
    services = types.SimpleNamespace(intake=_Intake(down_after=100))
    results = submit_all(services, _lines("A", "BAD", "C"))
    assert [r.outcome for r in results] == ["filed", "rejected", "filed"]
    assert results[1].reason.startswith("INVALID_ARGUMENT")


def test_a_batch_stops_at_an_error_every_report_would_get():
    services = types.SimpleNamespace(intake=_Intake(down_after=3))
    with pytest.raises(BatchStopped) as stopped:
        submit_all(services, _lines(*(f"R-{n}" for n in range(500))))
    # What was answered is kept; no report was sent after the first error but those in flight.
    assert len(stopped.value.done) == 3
    assert stopped.value.cause.code() == grpc.StatusCode.UNAVAILABLE
    assert services.intake.calls <= 3 + IN_FLIGHT
