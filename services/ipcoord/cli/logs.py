"""`ipcoord tail TOPIC` and `ipcoord dead-letters`: the shared log, decoded."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import typer

from ipcoord.cli.common import JsonOption, console, print_json, reported, rows_table, settings
from ipcoord.platform.log_reader import Position, decoded, records, short_name, topic_spec
from ipcoord.platform.topics import DEADLETTER, TOPICS


def register(app: typer.Typer) -> None:
    app.command("tail")(tail)
    app.command("dead-letters")(dead_letters)


Follow = Annotated[bool, typer.Option("--follow", "-f", help="Go on with new records.")]


def tail(
    topic: Annotated[
        str,
        typer.Argument(
            help=f"A registry topic, by name or short name: {', '.join(map(short_name, TOPICS))}."
        ),
    ],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Every record the topic still holds.")
    ] = False,
    follow: Follow = False,
    last: Annotated[
        int, typer.Option(min=0, help="Else: this many before each partition's end.")
    ] = 10,
    event_type: Annotated[
        str, typer.Option("--type", help="Only this event type (e.g. CaseFiled).")
    ] = "",
    producer: Annotated[str, typer.Option(help="Only records this bureau produced.")] = "",
    subject: Annotated[str, typer.Option(help="Only records with this key.")] = "",
) -> None:
    """Decode a topic's records to JSON lines: envelopes with their body, replies, dead letters."""
    with reported():
        spec = topic_spec(topic)
        config = settings()
        position = Position(from_beginning=from_beginning, last=last)
        try:
            for record in records(config, spec, position, follow=follow):
                fields = decoded(spec, record)
                if _wanted(fields, event_type, producer, subject):
                    print_json(fields)
        except KeyboardInterrupt:
            pass


def _wanted(fields: dict[str, Any], event_type: str, producer: str, subject: str) -> bool:
    kind = fields.get("event_type", "")
    return (
        (not event_type or kind == event_type or kind.rsplit(".", 1)[-1] == event_type)
        and (not producer or fields.get("producer_bureau") == producer)
        and (not subject or fields.get("key") == subject)
    )


def dead_letters(
    sender: Annotated[str, typer.Option(help="Only what this bureau sent.")] = "",
    service: Annotated[str, typer.Option(help="Only what this service refused.")] = "",
    last: Annotated[
        int | None, typer.Option(min=1, help="Only the last N per partition [default: all].")
    ] = None,
    follow: Follow = False,
    as_json: JsonOption = False,
) -> None:
    """What the services refused from the log, why, and who sent it (ipcoord.deadletter.v1).

    A report intake refuses over gRPC or as invalid is not here: its sender gets the reason
    (a gRPC status, or a SubmissionRejected on ipcoord.cases.v1 under its reference)."""
    found = []
    with reported():
        config = settings()
        position = Position(from_beginning=last is None, last=last or 0)
        try:
            for record in records(config, DEADLETTER, position, follow=follow):
                letter = _readable(decoded(DEADLETTER, record).get("value", {}))
                if sender and letter["sender"] != sender:
                    continue
                if service and not letter.get("rejected_by", "").endswith(service):
                    continue
                if as_json:
                    print_json(letter)
                elif follow:
                    console.print(" | ".join(map(str, _row(letter))), highlight=False)
                else:
                    found.append(letter)
        except KeyboardInterrupt:
            pass
    if found:
        console.print(
            rows_table(
                f"{len(found)} dead letter(s)",
                ["when", "refused by", "sender", "class", "reason", "record"],
                [_row(letter) for letter in found],
            )
        )
    elif not (as_json or follow):
        filtered = " matching the filters" if sender or service else ""
        console.print(f"no dead letters{filtered}", highlight=False)


def _readable(letter: dict[str, Any]) -> dict[str, Any]:
    """The dead letter without the record's bytes (they stay at its source topic and offset),
    its key as text, and who sent it (as declared): the envelope's bureau, else the bureau a
    report's key names."""
    letter.pop("original_value", None)
    key = base64.b64decode(letter.get("original_key", "")).decode("utf-8", "replace")
    letter["original_key"] = key
    from_key = key.split("/", 1)[0] if "/" in key else ""  # a report's "<bureau>/<ref>"
    letter["sender"] = letter.get("original_producer_bureau") or from_key
    return letter


def _row(letter: dict[str, Any]) -> list[Any]:
    return [
        letter.get("rejected_at", ""),
        letter.get("rejected_by", ""),
        letter["sender"] or "?",
        letter.get("error_class", ""),
        letter.get("reason", ""),
        f"{letter.get('source_topic')}/{letter.get('source_partition', 0)}"
        f"@{letter.get('source_offset', 0)}",
    ]
