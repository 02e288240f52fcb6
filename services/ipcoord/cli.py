"""The `ipcoord` command: run services and manage topics."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys

import click
from aiokafka.errors import KafkaConnectionError

from ipcoord.platform.settings import Settings

# Each service's composition root exposes `async def serve(settings) -> None`.
SERVICES = {
    "intake": "ipcoord.intake.main",
    "credit": "ipcoord.credit.main",
    "notifications": "ipcoord.notifications.main",
}


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's message names the variable and the problem
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ipcoord: coordination of IP enforcement across bureaus."""


@main.command()
@click.argument("service", type=click.Choice(sorted(SERVICES)))
def serve(service: str) -> None:
    """Run SERVICE (Faust app and gRPC server) against KAFKA_BOOTSTRAP_SERVERS."""
    settings = _settings()
    module = importlib.import_module(SERVICES[service])
    try:
        asyncio.run(module.serve(settings))
    except KeyboardInterrupt:
        pass
    except (TimeoutError, KafkaConnectionError) as exc:
        raise click.ClickException(
            f"{service} did not start: {exc}. Is Kafka reachable at "
            f"{settings.kafka_bootstrap_servers}, and are the topics created "
            "(`ipcoord topics create`)?"
        ) from exc


@main.group()
def topics() -> None:
    """Create or describe the topics of the topic registry."""


@topics.command("create")
def topics_create() -> None:
    """Create every registry topic that is missing (idempotent)."""
    from kafka.errors import KafkaError

    from ipcoord.platform.kafka_admin import ensure_topics

    settings = _settings()
    try:
        created = ensure_topics(settings)
    except KafkaError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc!r}"
        ) from exc
    click.echo(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))


@topics.command("describe")
def topics_describe() -> None:
    """Print the registry and, per topic, what the broker has (JSON lines)."""
    from kafka.errors import KafkaError

    from ipcoord.platform.kafka_admin import describe_topics
    from ipcoord.platform.topics import TOPICS, full_name

    settings = _settings()
    try:
        on_broker = describe_topics(settings)
    except KafkaError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc!r}"
        ) from exc
    for spec in TOPICS:
        name = full_name(spec, settings.topic_prefix)
        record = {
            "topic": name,
            "partitions": spec.partitions,
            # Partitions the broker has; None: the topic is missing (run `topics create`).
            "on_broker": on_broker.get(name),
            "key": spec.key,
            "value": spec.value,
            "producers": [str(p) for p in spec.producers],
            "consumers": [str(c) for c in spec.consumers],
            "config": spec.config(),
        }
        json.dump(record, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
