"""`ipcoord submit FILE`: a batch of reports to intake, with progress, and what became of each
(ipcoord.client.batch)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from ipcoord.cli.common import (
    JsonOption,
    connection,
    console,
    errors,
    print_json,
    reported,
    rows_table,
)
from ipcoord.client.batch import BatchStopped, Submitted, submit_all
from ipcoord.client.report_files import read_reports


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)


def submit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON lines (.jsonl) or CSV (.csv) of reports.")],
    as_json: JsonOption = False,
) -> None:
    """Submit a batch of reports (JSON lines or CSV) as your bureau.

    Prints how many were filed, linked to an open case and rejected (with the reasons), and
    how many had been submitted before. Exit status 1 when any was rejected."""
    with reported():
        items = list(read_reports(file))
        services = connection(ctx).services()
    stopped: BatchStopped | None = None
    with reported(connection(ctx).named("intake")), services:
        try:
            if as_json:
                results = submit_all(services, items)
            else:
                with _progress_bar() as progress:
                    task = progress.add_task("submitting", total=len(items))
                    results = submit_all(services, items, advance=lambda: progress.advance(task))
        except BatchStopped as exc:
            stopped, results = exc, exc.done
    if as_json:
        for result in results:
            print_json(result.as_dict())
    else:
        show_outcomes(results)
    if stopped is not None:
        _stopped(stopped, connection(ctx).named("intake"))
    if any(r.outcome == "rejected" for r in results):
        raise typer.Exit(1)


def _stopped(stopped: BatchStopped, service: str) -> None:
    """What was sent, then the cause as every command reports it (one line, exit status)."""
    where = f"stopped after {len(stopped.done)} of {stopped.total} report(s)"
    if isinstance(stopped.cause, KeyboardInterrupt):
        errors.print(f"{where}: interrupted", highlight=False)
        raise typer.Exit(130)
    with reported(f"{service}: {where}"):
        raise stopped.cause


def _progress_bar() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def show_outcomes(results: list[Submitted]) -> None:
    counts = Counter(r.outcome for r in results)
    console.print(
        rows_table(
            f"{len(results)} report(s)",
            ["filed (new case)", "linked (open case)", "rejected", "of them submitted before"],
            [
                [
                    counts["filed"],
                    counts["linked"],
                    counts["rejected"],
                    sum(r.again for r in results),
                ]
            ],
        )
    )
    rejected = [r for r in results if r.outcome == "rejected"]
    if rejected:
        console.print(
            rows_table(
                "Rejected",
                ["line", "reference", "reason"],
                [[r.line, r.external_ref, r.reason] for r in rejected],
            )
        )
