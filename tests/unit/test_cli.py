from __future__ import annotations

from click.testing import CliRunner
from ipcoord.cli import main


def test_every_command_has_help():
    runner = CliRunner()
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["topics", "--help"],
        ["topics", "create", "--help"],
        ["topics", "describe", "--help"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_unreachable_broker_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:1")
    result = CliRunner().invoke(main, ["topics", "create"])
    assert result.exit_code == 1
    assert "cannot reach Kafka at localhost:1" in result.output


def test_invalid_configuration_names_the_variable(monkeypatch):
    monkeypatch.setenv("IPCOORD_GRPC_PORT", "not-a-port")
    result = CliRunner().invoke(main, ["serve", "intake"])
    assert result.exit_code == 1
    assert "invalid configuration" in result.output and "IPCOORD_GRPC_PORT" in result.output


def test_unknown_service_is_refused():
    result = CliRunner().invoke(main, ["serve", "billing"])
    assert result.exit_code == 2
    assert "intake" in result.output
