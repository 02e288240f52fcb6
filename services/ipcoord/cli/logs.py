"""`ipcoord tail TOPIC` and `ipcoord dead-letters`: the shared log, decoded."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ipcoord.cli.common import JsonOption, console, print_json, reported, rows_table, settings
from ipcoord.platform.log_reader import Position, decoded, records, topic_spec
from ipcoord.platform.topics import DEADLETTER


def register(app: typer.Typer) -> None:
    app.command("tail")(tail)
    app.command("dead-letters")(dead_letters)


FromBeginning = Annotated[
    bool, typer.Option("--from-beginning", help="Every record the topic still holds.")
]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Go on with new records.")]
Last = Annotated[
    int,
    typer.Option(min=0, help="Without --from-beginning: this many before each partition's end."),
]


def tail(
    topic: Annotated[
        str, typer.Argument(help="A registry topic, whole or a unique part: cases, credit...")
    ],
    from_beginning: FromBeginning = False,
    follow: Follow = False,
    last: Last = 10,
    event_type: Annotated[
        str, typer.Option("--type", help="Only this event type (e.g. CaseFiled).")
    ] = "",
    bureau: Annotated[str, typer.Option(help="Only records this bureau produced.")] = "",
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
                if _wanted(fields, event_type, bureau, subject):
                    print_json(fields)
        except KeyboardInterrupt:
            pass


def _wanted(fields: dict[str, Any], event_type: str, bureau: str, subject: str) -> bool:
    kind = fields.get("event_type", "")
    return (
        (not event_type or kind == event_type or kind.rsplit(".", 1)[-1] == event_type)
        and (not bureau or fields.get("producer_bureau") == bureau)
        and (not subject or fields.get("key") == subject)
    )


def dead_letters(
    bureau: Annotated[str, typer.Option(help="Only what this bureau sent.")] = "",
    service: Annotated[str, typer.Option(help="Only what this service refused.")] = "",
    from_beginning: FromBeginning = True,
    follow: Follow = False,
    last: Last = 50,
    as_json: JsonOption = False,
) -> None:
    """What the services refused from the log, why, and who sent it (ipcoord.deadletter.v1)."""
    found = []
    with reported():
        config = settings()
        position = Position(from_beginning=from_beginning, last=last)
        try:
            for record in records(config, DEADLETTER, position, follow=follow):
                letter = decoded(DEADLETTER, record).get("value", {})
                if bureau and letter.get("original_producer_bureau") != bureau:
                    continue
                if service and not letter.get("rejected_by", "").endswith(service):
                    continue
                letter.pop("original_value", None)  # base64 of the record: see its topic
                if as_json or follow:
                    print_json(letter) if as_json else _print_letter(letter)
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
        console.print("no dead letters", highlight=False)


def _row(letter: dict[str, Any]) -> list[Any]:
    return [
        letter.get("rejected_at", ""),
        letter.get("rejected_by", ""),
        letter.get("original_producer_bureau", "?"),
        letter.get("error_class", ""),
        letter.get("reason", ""),
        f"{letter.get('source_topic')}/{letter.get('source_partition', 0)}"
        f"@{letter.get('source_offset', 0)}",
    ]


def _print_letter(letter: dict[str, Any]) -> None:
    console.print(" | ".join(str(cell) for cell in _row(letter)), highlight=False)
