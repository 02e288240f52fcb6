"""`ipcoord topics create` and `topics describe` against a real broker, through the CLI and the
admin functions it calls. Each test has its own topic prefix with no topics created up front
(unlike the `settings` fixture), so a first and a second `topics create` can both be seen."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner, Result
from ipcoord.cli import main
from ipcoord.platform.kafka_admin import delete_prefixed, describe_topics, ensure_topics
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import CASES, full_name
from ipcoord.topology import all_topics


@pytest.fixture
def empty_settings(kafka_bootstrap: str) -> Iterator[Settings]:
    """A prefix with no topics on the broker yet; whatever the test creates is removed."""
    s = Settings(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    yield s
    delete_prefixed(s)


def _ipcoord(settings: Settings, *args: str) -> Result:
    # The CLI reads its settings from the environment, as it does under `make dev`.
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "IPCOORD_TOPIC_PREFIX": settings.topic_prefix,
    }
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def _registry_partitions(settings: Settings) -> dict[str, int]:
    return {full_name(s, settings.topic_prefix): s.partitions for s in all_topics()}


def _on_broker(settings: Settings, expected: dict[str, int], timeout_s: float = 15.0):
    """describe_topics once it shows `expected`, or as it stands at the timeout. The broker
    answers CreateTopics/CreatePartitions when the controller has committed them; its own
    metadata, which describe reads, can lag a moment behind."""
    deadline = time.monotonic() + timeout_s
    while (current := describe_topics(settings, all_topics())) != expected and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    return current


def test_topics_create_twice_creates_then_changes_nothing(empty_settings):
    first = _ipcoord(empty_settings, "topics", "create")
    assert first.output.startswith(f"created {len(all_topics())} topic(s)")
    assert _on_broker(empty_settings, _registry_partitions(empty_settings)) == (
        _registry_partitions(empty_settings)
    )

    second = _ipcoord(empty_settings, "topics", "create")

    assert second.output.strip() == "created 0 topic(s)"
    assert _on_broker(empty_settings, _registry_partitions(empty_settings)) == (
        _registry_partitions(empty_settings)
    )


def test_topics_create_adds_partitions_where_the_registry_asks_for_more(empty_settings):
    fewer = replace(CASES, partitions=2)
    ensure_topics(empty_settings, [fewer])
    cases = full_name(CASES, empty_settings.topic_prefix)
    assert _on_broker(empty_settings, {cases: 2}) == {cases: 2}

    result = _ipcoord(empty_settings, "topics", "create")

    assert result.output.startswith(f"created {len(all_topics()) - 1} topic(s)")
    assert cases not in result.output  # it existed: grown, not created
    assert _on_broker(empty_settings, _registry_partitions(empty_settings)) == (
        _registry_partitions(empty_settings)
    )


def test_ensure_topics_never_shrinks_a_topic(empty_settings):
    ensure_topics(empty_settings, [CASES])
    cases = full_name(CASES, empty_settings.topic_prefix)
    assert _on_broker(empty_settings, {cases: CASES.partitions}) == {cases: CASES.partitions}

    assert ensure_topics(empty_settings, [replace(CASES, partitions=2)]) == []

    assert describe_topics(empty_settings) == {cases: CASES.partitions}


def test_topics_describe_shows_the_broker_next_to_the_registry(empty_settings):
    ensure_topics(empty_settings, [replace(CASES, partitions=2)])
    cases_name = full_name(CASES, empty_settings.topic_prefix)
    _on_broker(empty_settings, {cases_name: 2})

    result = _ipcoord(empty_settings, "topics", "describe", "--json")

    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["topic"] for r in records] == list(_registry_partitions(empty_settings))
    by_name = {r["topic"]: r for r in records}
    cases = by_name.pop(cases_name)
    assert (cases["partitions"], cases["on_broker"]) == (CASES.partitions, 2)
    assert cases["config"] == CASES.config()
    assert all(r["on_broker"] is None for r in by_name.values())  # not created yet
