"""Credit records' writer without a broker: the platform processor with credit's logic over
stored tables (encoded values, as rocksdb keeps them) and its journal."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from ipcoord.credit.processor import CreditProcessor
from ipcoord.credit.state import DERIVED_INDEXES, CreditState, listing_id_for
from ipcoord.credit.state_codecs import CODECS
from ipcoord.platform import codec
from ipcoord.platform import processor as platform_processor
from ipcoord.platform.journal import Journal, Source
from ipcoord.platform.read_cache import ReadCache
from ipcoord.platform.staged import Stage
from ipcoord.v1 import credit_pb2 as C
from support.credit import RULES, T0, decided
from support.reports import uscc
from support.stores import StoredTable

TOPIC = "ipcoord.credit.commands.v1"


class Writer:
    """One replica's credit writer over tables that outlive it, composed as the service will."""

    def __init__(self, tables: dict, journal_path) -> None:
        self.published: list[codec.Envelope] = []
        self.journal = Journal(journal_path)
        stage = Stage()
        self.state = CreditState(
            **{
                f.name: stage.wrap(
                    f.name,
                    {}
                    if f.name in DERIVED_INDEXES
                    else ReadCache(
                        StoredTable(f.name, tables.setdefault(f.name, {}), CODECS),
                        max_entries=100,
                    ),
                )
                for f in dataclasses.fields(CreditState)
            }
        )
        self.processor = CreditProcessor(
            self.state,
            stage,
            self.journal,
            RULES,
            self._publish,
            self._reply,
            fail_stop=pytest.fail,
        )

    async def _publish(self, key, env, traceparent=None):
        self.published.append(env)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def _reply(self, replica, reply):
        return None

    async def handle(self, body, key: str, offset: int, actor="ipb-sz", at=T0, partition=0):
        command = C.CreditCommand()
        getattr(command, _field_of(body)).CopyFrom(body)
        env = codec.envelope(command, producer_bureau=actor, subject_key=key, occurred_at=at)
        await self.processor.handle(env, Source(TOPIC, partition, offset), system=True)
        return env


def _field_of(body) -> str:
    for field in C.CreditCommand.DESCRIPTOR.oneofs_by_name["command"].fields:
        if field.message_type.full_name == body.DESCRIPTOR.full_name:
            return field.name
    raise AssertionError(body)


async def test_a_decision_relayed_twice_is_one_record_and_facts_are_keyed_by_the_entity(tmp_path):
    writer, entity = Writer({}, tmp_path / "journal"), uscc(40)
    await writer.handle(decided("c1", entity, T0 - timedelta(days=30)), entity, 0)
    await writer.handle(decided("c1", entity, T0 - timedelta(days=30)), entity, 1)
    await writer.handle(decided("c2", entity), entity, 2)
    assert [e.event_type for e in writer.published] == [
        "ipcoord.v1.DishonestyRecorded",
        "ipcoord.v1.DishonestyRecorded",
        "ipcoord.v1.SeriousDishonestyListed",
    ]
    assert {e.subject_key for e in writer.published} == {entity}
    assert writer.state.files[entity].active_listings()[0].listing_id == listing_id_for(entity, 1)


async def test_a_redelivered_command_republishes_its_facts_with_the_same_ids(tmp_path):
    writer, entity = Writer({}, tmp_path / "journal"), uscc(41)
    env = await writer.handle(decided("c1", entity, established=False, refused=True), entity, 0)
    first = [e.event_id for e in writer.published]
    await writer.processor.handle(env, Source(TOPIC, 0, 0), system=True)
    assert [e.event_id for e in writer.published[len(first) :]] == first


async def test_a_refused_command_is_told_on_the_log_under_its_entity(tmp_path):
    writer, entity = Writer({}, tmp_path / "journal"), uscc(42)
    body = C.ObjectToListing(listing_id=listing_id_for(entity, 1), grounds="g")
    await writer.handle(body, entity, 0)
    [refusal] = writer.published
    assert refusal.event_type == "ipcoord.v1.CreditCommandRejected"
    assert refusal.subject_key == entity
    assert refusal.credit_command_rejected.command == "ObjectToListing"


async def test_a_clock_tick_reaches_every_due_entity_of_its_partition(tmp_path):
    writer = Writer({}, tmp_path / "journal")
    for n, entity in enumerate([uscc(43), uscc(44)]):
        await writer.handle(decided(f"c{n}", entity, refused=True, established=False), entity, n)
    writer.published.clear()
    tick = C.CheckCreditDeadlines()
    tick.now.FromDatetime(T0 + timedelta(days=30))
    await writer.handle(tick, "clock", 9, actor="ipcoord-credit")
    overdue = [e for e in writer.published if e.event_type == "ipcoord.v1.FeedbackOverdue"]
    assert {e.subject_key for e in overdue} == {uscc(43), uscc(44)}


def test_the_journal_redoes_one_partition_from_its_committed_offset(tmp_path):
    journal = Journal(tmp_path / "journal")
    for offset, partition in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]:
        journal.append(f"e-{partition}-{offset}", Source(TOPIC, partition, offset), b"x")
    assert [e.entry_id for e in journal.uncommitted_of(TOPIC, 0, 1)] == ["e-0-1", "e-0-2"]
    assert [e.entry_id for e in journal.uncommitted_of(TOPIC, 1, 2)] == []


def test_a_tick_on_the_wrong_partition_is_refused_before_it_writes_anything():
    from ipcoord.credit.stream import _check_routed, command

    tick = command(
        C.CheckCreditDeadlines(partition=2, partition_count=6), actor="ipcoord-credit", key="clock"
    )
    _check_routed(tick, 2)
    with pytest.raises(codec.InvalidEnvelope) as misrouted:
        _check_routed(tick, 0)
    assert misrouted.value.error_class == "MisroutedTick"


async def test_a_command_that_would_store_a_value_too_big_for_kafka_is_refused(
    tmp_path, monkeypatch
):
    """Its changelog record would be refused by the broker and the writer would stop there
    for good (a review grew one file to 1.2 MB): refused instead, with nothing kept."""
    tables: dict = {}
    writer = Writer(tables, tmp_path / "journal")
    entity = uscc(90)
    await writer.handle(decided("small", entity), entity, 0)
    before = dict(tables["files"])
    monkeypatch.setattr(platform_processor, "MAX_STORED_VALUE", len(before[entity]) + 50)
    await writer.handle(decided("too-big", entity, refused=True), entity, 1)
    rejected = writer.published[-1]
    assert rejected.WhichOneof("body") == "credit_command_rejected"
    assert "over the" in rejected.credit_command_rejected.reason
    assert tables["files"] == before  # nothing of it stored
    assert [r.source_case_id for r in writer.state.files[entity].records] == ["small"]


async def test_after_a_crash_a_partition_with_nothing_to_redo_is_settled_at_once(tmp_path):
    tables = {}
    crashed = Writer(tables, tmp_path / "journal")
    await crashed.handle(decided("c1", uscc(45)), uscc(45), 7, partition=1)
    # A kill -9: the journal is closed without its clean mark; partition 1 was committed up
    # to offset 5.
    crashed.journal.close(clean=False)
    writer = Writer(tables, tmp_path / "journal")
    assert not writer.processor.was_clean
    assert writer.processor.needs_redo_of(0) and writer.processor.needs_redo_of(1)
    # Partition 0 has no entry: its lookups need not wait for a command that may never come.
    assert writer.processor.settle_without_redo(TOPIC, 0, committed=0)
    assert not writer.processor.needs_redo_of(0)
    # Partition 1's entry is past its commit: its redo comes with the command read again.
    assert not writer.processor.settle_without_redo(TOPIC, 1, committed=5)
    assert writer.processor.needs_redo_of(1)
