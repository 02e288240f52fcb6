"""The continuity guard against the real broker: a skip over real records stops the writer; a
skip over a transaction's markers and aborted records does not."""

from __future__ import annotations

import pytest
from ipcoord.platform import codec
from ipcoord.platform.continuity import ContinuityGuard, SkippedRecords
from ipcoord.platform.topics import INTAKE_SUBMISSIONS, full_name
from ipcoord.v1 import intake_pb2
from kafka import KafkaProducer
from support.kafka import produce


def _record(n: int) -> tuple[bytes, bytes]:
    env = codec.envelope(
        intake_pb2.CaseAccepted(case_id=f"c-{n}"), producer_bureau="ipb-sz", subject_key="k"
    )
    return b"k", codec.encode(env)


async def test_a_skip_over_real_records_is_caught(settings):
    produce(settings, INTAKE_SUBMISSIONS, [_record(n) for n in range(5)])
    topic = full_name(INTAKE_SUBMISSIONS, settings.topic_prefix)
    guard = ContinuityGuard(settings, f"{settings.topic_prefix}nobody")
    await guard.check(topic, 0, 0)  # the first record, nothing committed: fine
    await guard.check(topic, 0, 1)
    with pytest.raises(SkippedRecords, match="skipped 2 record"):
        await guard.check(topic, 0, 4)  # offsets 2 and 3 were never handled
    await guard.check(topic, 0, 1)  # a redelivery from before is no skip


async def test_a_first_record_past_the_committed_offset_is_caught(settings):
    produce(settings, INTAKE_SUBMISSIONS, [_record(n) for n in range(3)])
    topic = full_name(INTAKE_SUBMISSIONS, settings.topic_prefix)
    guard = ContinuityGuard(settings, f"{settings.topic_prefix}nobody")
    with pytest.raises(SkippedRecords, match="between offsets 0 and 2"):
        await guard.check(topic, 0, 2)


async def test_transaction_markers_and_aborted_records_are_no_skip(settings):
    topic = full_name(INTAKE_SUBMISSIONS, settings.topic_prefix)
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        transactional_id=f"{settings.topic_prefix}bureau",
    )
    producer.init_transactions()
    for abort in (False, True, False):
        producer.begin_transaction()
        key, value = _record(0)
        producer.send(topic, key=key, value=value)
        producer.flush()  # on the log before the abort, so an aborted record is there
        if abort:
            producer.abort_transaction()
        else:
            producer.commit_transaction()
    producer.close()
    # Offsets: 0 record, 1 commit marker, 2 aborted record, 3 abort marker, 4 record, 5 marker.
    guard = ContinuityGuard(settings, f"{settings.topic_prefix}nobody")
    await guard.check(topic, 0, 0)
    await guard.check(topic, 0, 4)
