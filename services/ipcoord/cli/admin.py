"""`ipcoord serve` and `ipcoord topics create|describe`."""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated

import typer
from aiokafka.errors import KafkaConnectionError
from rich.text import Text

from ipcoord.cli.common import (
    Failure,
    JsonOption,
    console,
    one_of,
    over_tls,
    print_json,
    reported,
    rows_table,
    settings,
)
from ipcoord.platform.kafka_access import TopicsNotReadable
from ipcoord.platform.runner import TableRecoveryFailed

# Each service's composition root exposes `async def serve(settings) -> None`.
SERVICES = {
    "intake": "ipcoord.intake.main",
    "credit": "ipcoord.credit.main",
    "notifications": "ipcoord.notifications.main",
}

topics = typer.Typer(help="Create or describe the topics of the topic registry.")


def register(app: typer.Typer) -> None:
    app.command()(serve)


ServiceArgument = Annotated[
    str,
    typer.Argument(
        callback=one_of(SERVICES),
        metavar="SERVICE",
        help=f"One of: {', '.join(sorted(SERVICES))}.",
        show_default=False,
    ),
]


def serve(service: ServiceArgument) -> None:
    """Run SERVICE (Faust app and gRPC server) against KAFKA_BOOTSTRAP_SERVERS."""
    with reported():
        config = settings()
    module = importlib.import_module(SERVICES[service])
    with reported():
        try:
            asyncio.run(module.serve(config))
        except KeyboardInterrupt:
            pass
        except (TopicsNotReadable, TableRecoveryFailed) as exc:
            raise Failure(str(exc)) from exc
        except KafkaConnectionError as exc:
            raise OSError(
                f"{service} did not start: {exc}: cannot reach Kafka at "
                f"{config.kafka_bootstrap_servers}{over_tls()}"
            ) from exc
        except TimeoutError as exc:
            raise OSError(
                f"{service} did not start: {exc}. Is Kafka reachable at "
                f"{config.kafka_bootstrap_servers}, and are the topics created "
                "(`ipcoord topics create`)?"
            ) from exc


@topics.command("create")
def topics_create() -> None:
    """Create every topic that is missing (idempotent): the registry's and the services' table
    changelogs."""
    from ipcoord.platform.kafka_admin import ensure_topics
    from ipcoord.topology import all_topics

    with reported():
        created = ensure_topics(settings(), all_topics())
    console.print(
        f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""),
        highlight=False,
    )


@topics.command("describe")
def topics_describe(as_json: JsonOption = False) -> None:
    """Every topic (the registry's, the table changelogs) and the partitions the broker has."""
    from ipcoord.platform.kafka_admin import describe_topics
    from ipcoord.platform.topics import full_name
    from ipcoord.topology import all_topics

    with reported():
        config = settings()
        on_broker = describe_topics(config, all_topics())
    records = [
        {
            "topic": full_name(spec, config.topic_prefix),
            "partitions": spec.partitions,
            # Partitions the broker has; None: the topic is missing (run `topics create`).
            "on_broker": on_broker.get(full_name(spec, config.topic_prefix)),
            "key": spec.key,
            "value": spec.value,
            "producers": [str(p) for p in spec.producers],
            "consumers": [str(c) for c in spec.consumers],
            "config": spec.config(),
        }
        for spec in all_topics()
    ]
    if as_json:
        for record in records:
            print_json(record)
        return
    console.print(
        rows_table(
            f"Topics on {config.kafka_bootstrap_servers}",
            ["topic", "partitions", "on broker", "value", "producers", "consumers"],
            [
                [
                    r["topic"],
                    r["partitions"],
                    r["on_broker"] if r["on_broker"] is not None else Text("missing", style="red"),
                    r["value"],
                    ", ".join(r["producers"]),
                    ", ".join(r["consumers"]),
                ]
                for r in records
            ],
        )
    )
