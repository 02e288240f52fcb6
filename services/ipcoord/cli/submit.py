"""`ipcoord submit FILE`: a batch of reports to intake, with progress, and what became of each:
filed as a new case, linked to an open one (source tracing), or rejected with intake's
reason; and whether it had been submitted before (a resubmission changes nothing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from ipcoord.cli.common import JsonOption, connection, console, print_json, reported, rows_table
from ipcoord.cli.report_files import ReportLine, read_reports
from ipcoord.client import Services
from ipcoord.v1 import intake_pb2 as S

# Calls in flight: intake orders submissions on one partition, so more only queue there.
IN_FLIGHT = 8


@dataclass(frozen=True)
class Submitted:
    line: int
    external_ref: str
    outcome: str  # filed | linked | rejected
    case_id: str = ""
    reason: str = ""
    # Submitted before under the same reference: nothing new happened, the outcome is the
    # first submission's.
    again: bool = False

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def submit_one(services: Services, item: ReportLine) -> Submitted:
    if item.report is None:
        return Submitted(item.line, "", "rejected", reason=item.error)
    ref = item.report.external_ref
    try:
        answer = services.intake.SubmitReport(S.SubmitReportRequest(report=item.report))
    except grpc.RpcError as exc:
        if exc.code() in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ):
            return Submitted(
                item.line, ref, "rejected", reason=f"{exc.code().name}: {exc.details()}"
            )
        raise  # unreachable, deadline...: the batch stops with a clear error
    outcome = {S.SUBMISSION_OUTCOME_FILED: "filed", S.SUBMISSION_OUTCOME_LINKED: "linked"}.get(
        answer.outcome, "unknown"
    )
    return Submitted(item.line, ref, outcome, case_id=answer.case_id, again=answer.duplicate)


def submit_all(
    services: Services, items: Iterable[ReportLine], *, advance: Callable[[], None] = lambda: None
) -> list[Submitted]:
    """Every report submitted, IN_FLIGHT at a time; results in the input's order."""
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = [pool.submit(submit_one, services, item) for item in items]
        results = []
        for future in futures:
            results.append(future.result())
            advance()
        return results


def progress_bar() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


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
    with reported(connection(ctx).named("intake")):
        items = list(read_reports(file))
        with connection(ctx).services() as services:
            if as_json:
                results = submit_all(services, items)
            else:
                with progress_bar() as progress:
                    task = progress.add_task("submitting", total=len(items))
                    results = submit_all(services, items, advance=lambda: progress.advance(task))
    if as_json:
        for result in results:
            print_json(result.as_dict())
    else:
        show_outcomes(results)
    if any(r.outcome == "rejected" for r in results):
        raise typer.Exit(1)


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
