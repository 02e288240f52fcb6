"""Before a service starts: can it read every topic it consumes? Kafka refuses a principal
without Read (or Describe) on a topic only in the consumer's log ("Topic ... is not authorized
for this client") and the consumer goes on without it: a service whose KafkaUser lacks one ACL
would serve, healthy, and never see that topic's records (intake no credit listings, credit no
decisions). So each service asks first, with a fetch from each topic, and does not start
without them, naming the topics and what to grant (deploy/k8s, the KafkaUsers generated from the
topic registry)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from ipcoord.platform import kafka_client
from ipcoord.platform.settings import Settings
from ipcoord.platform.topics import TopicSpec, full_name

# How long the broker holds a fetch that finds no records (empty topics answer at the end of
# it): the check fetches from every topic at once, about 0.2 s in all at start.
_FETCH_WAIT_MS = 100
_ANSWER_WITHIN_S = 30
# How long a topic missing from the metadata is looked for again before the service gives up
# (a topic being created by `ipcoord topics create` or the Topic Operator right now).
_CREATED_WITHIN_S = 5


class TopicsNotReadable(RuntimeError):
    """Kafka does not let this service read topics it consumes (or they do not exist)."""


async def check_readable(settings: Settings, service: str, specs: Iterable[TopicSpec]) -> None:
    """Raise TopicsNotReadable unless Kafka lets this process read every topic of ``specs``."""
    names = sorted({full_name(spec, settings.topic_prefix) for spec in specs})
    consumer = AIOKafkaConsumer(
        **kafka_client.connection(settings),
        enable_auto_commit=False,
        fetch_max_wait_ms=_FETCH_WAIT_MS,
    )
    try:
        await consumer.start()
        unseen = await _unseen(consumer, names)
        if unseen:
            what = (
                "cannot see (not created: `ipcoord topics create`, on Kubernetes their "
                "KafkaTopics; or, on a broker with ACLs, no Describe)"
            )
            raise TopicsNotReadable(_message(service, unseen, what))
        refused = await _refused(consumer, service, names)
        if refused:
            raise TopicsNotReadable(_message(service, refused, "may not read (no Read ACL)"))
    finally:
        await consumer.stop()


async def _unseen(consumer: AIOKafkaConsumer, names: list[str]) -> list[str]:
    """The topics absent from the metadata: not existing, or not to be described by this
    principal. A topic created a moment ago may be absent too (its partitions have no leader
    yet, and the client leaves it out), so the metadata is read again for a while first."""
    deadline = asyncio.get_running_loop().time() + _CREATED_WITHIN_S
    while True:
        unseen = sorted(set(names) - await consumer.topics())
        if not unseen or asyncio.get_running_loop().time() > deadline:
            return unseen
        await asyncio.sleep(0.5)


async def _refused(consumer: AIOKafkaConsumer, service: str, names: list[str]) -> list[str]:
    """Fetch from every topic's first partition until the broker has answered for each: the
    topics it refused. An answer without records still sets the partition's high watermark;
    a refusal is raised for one topic at a time."""
    pending = {TopicPartition(name, 0) for name in names}
    refused: set[str] = set()
    deadline = asyncio.get_running_loop().time() + _ANSWER_WITHIN_S
    consumer.assign(list(pending))
    await consumer.seek_to_beginning(*pending)
    while pending:
        try:
            await consumer.getmany(timeout_ms=_FETCH_WAIT_MS, max_records=1)
        except TopicAuthorizationFailedError as error:
            refused.update(error.args)
            pending = {tp for tp in pending if tp.topic not in refused}
            if not pending:
                break
            consumer.assign(list(pending))  # fetch the others on
            await consumer.seek_to_beginning(*pending)
        pending = {tp for tp in pending if consumer.highwater(tp) is None}
        if pending and asyncio.get_running_loop().time() > deadline:
            unanswered = ", ".join(sorted(tp.topic for tp in pending))
            raise TopicsNotReadable(
                f"{service}: Kafka did not answer a fetch from {unanswered} in {_ANSWER_WITHIN_S} s"
            )
    return sorted(refused)


def _message(service: str, topics: list[str], what: str) -> str:
    return (
        f"{service} {what}: {', '.join(topics)}. Its Kafka principal needs Read and Describe "
        "on every topic it consumes (deploy/k8s/platform/generated/kafka-users.yaml, from the "
        "topic registry); not starting without them"
    )
