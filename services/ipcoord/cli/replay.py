"""`ipcoord replay SERVICE`: rebuild a service's state from the shared log into fresh tables
and say whether it equals the live state (its tables' changelogs)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ipcoord.cli.admin import SERVICES
from ipcoord.cli.common import (
    Failure,
    JsonOption,
    console,
    one_of,
    print_json,
    reported,
    rows_table,
    settings,
)
from ipcoord.platform.log_reader import envelopes
from ipcoord.platform.replay import compare, live_tables, write_store


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)


def replay(
    service: Annotated[
        str,
        typer.Argument(
            callback=one_of(SERVICES), metavar="SERVICE", help=f"One of: {', '.join(SERVICES)}."
        ),
    ],
    store: Annotated[
        Path | None,
        typer.Option(help="Keep the rebuilt store here (a new directory) [default: removed]."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rebuild SERVICE's state from the log into a fresh store; compare it with the live state.

    The live state is what the service's tables hold (their changelogs, which every replica
    recovers from). Exit status 0 when every stored table is equal, 1 otherwise. Run it while
    the system is quiet: a fact published between the two reads shows as a difference."""
    from ipcoord.topology import REPLAYS  # the services' domains: imported when replaying

    module = REPLAYS[service]
    with reported():
        config = settings()
        if store is not None and store.exists():
            raise Failure(f"{store} exists: give a new directory for the rebuilt store")
        with console.status(f"reading {', '.join(s.name for s in module.SOURCES)}"):
            logs = {spec.name: envelopes(config, spec) for spec in module.SOURCES}
        with tempfile.TemporaryDirectory(prefix="ipcoord-replay-") as scratch:
            directory = store or Path(scratch) / service
            with console.status(f"rebuilding into {directory}"):
                rebuilt = write_store(directory, module.rebuilt_tables(logs), module.STORED)
        with console.status("reading the live tables' changelogs"):
            copied = getattr(module, "PER_PARTITION", frozenset())
            live = live_tables(config, module.SERVICE, module.STORED, copied)
    comparisons = compare(live, rebuilt)
    equal = all(c.equal for c in comparisons)
    facts = sum(len(v) for v in logs.values())
    if as_json:
        print_json(
            {"service": service, "facts": facts, "equal": equal}
            | {"tables": [c.summary() for c in comparisons]}
        )
    else:
        _show(service, facts, equal, comparisons)
    if not equal:
        raise typer.Exit(1)


def _show(service: str, facts: int, equal: bool, comparisons: list) -> None:
    verdict = "[green]equal to the live state[/]" if equal else "[red]NOT equal[/]"
    summaries = [c.summary() for c in comparisons]
    console.print(
        rows_table(
            f"{service}: {facts} facts replayed; {verdict}",
            ["table", "live keys", "rebuilt keys", "only live", "only rebuilt", "different"],
            [
                [
                    s["table"],
                    s["live_keys"],
                    s["rebuilt_keys"],
                    s["only_live"],
                    s["only_rebuilt"],
                    s["different"],
                ]
                for s in summaries
            ],
        )
    )
    for s in summaries:
        if not s["equal"]:
            console.print(f"{s['table']}, e.g.: {', '.join(s['examples'])}", highlight=False)
