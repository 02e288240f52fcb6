"""`ipcoord case show|list` and `ipcoord action progress`: intake's lookups."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ipcoord.cli.common import (
    JsonOption,
    connection,
    console,
    print_json,
    reported,
    rows_table,
    show_message,
)
from ipcoord.v1 import intake_pb2 as S

app = typer.Typer(help="Cases: one case, or a filtered list.", no_args_is_help=True)
actions = typer.Typer(help="Joint special actions.", no_args_is_help=True)

STATUSES = [name.removeprefix("CASE_STATUS_").lower() for name in S.CaseStatus.keys()[1:]]


@app.command("show")
def show(
    ctx: typer.Context, case_id: Annotated[str, typer.Argument()], as_json: JsonOption = False
) -> None:
    """A case: status, bureaus, report, links, decision, deadlines and history."""
    with reported(connection(ctx).named("intake")), connection(ctx).services() as services:
        case = services.intake.GetCase(S.GetCaseRequest(case_id=case_id))
    if as_json:
        print_json(case)
        return
    show_message(case, f"Case {case.case_id}")


@app.command("list")
def list_cases(
    ctx: typer.Context,
    handled_by: Annotated[str, typer.Option(help="Cases this bureau handles or submitted.")] = "",
    status: Annotated[str, typer.Option(help=f"One of: {', '.join(STATUSES)}.")] = "",
    action: Annotated[str, typer.Option(help="Cases enrolled in this special action.")] = "",
    respondent: Annotated[str, typer.Option(help="Cases against this USCC.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many cases.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Cases you may see, filtered, in case id order; follows pages up to --limit."""
    if status and status not in STATUSES:
        raise typer.BadParameter(
            f"{status!r} is not one of: {', '.join(STATUSES)}", param_hint="--status"
        )
    request = S.ListCasesRequest(
        bureau=handled_by,
        status=S.CaseStatus.Value(f"CASE_STATUS_{status.upper()}") if status else 0,
        action_id=action,
        respondent_uscc=respondent,
    )
    found: list[S.CaseView] = []
    more = False
    with reported():
        services = connection(ctx).services()
    with reported(connection(ctx).named("intake")), services:
        while len(found) < limit:
            request.page.page_size = min(100, limit - len(found))
            page = services.intake.ListCases(request)
            found.extend(page.cases)
            more = bool(page.next_page_token)
            if not more:
                break
            request.page.page_token = page.next_page_token
    if as_json:
        for case in found:
            print_json(case)
        return
    console.print(
        rows_table(
            f"{len(found)} case(s)" + (" (more: raise --limit)" if more else ""),
            ["case", "status", "handling", "respondent", "linked reports", "actions"],
            [
                [
                    c.case_id,
                    S.CaseStatus.Name(c.status).removeprefix("CASE_STATUS_").lower(),
                    c.handling_bureau,
                    _respondent(c),
                    c.linked_report_count,
                    ", ".join(c.action_ids),
                ]
                for c in found
            ],
        )
    )


def _respondent(case: S.CaseView) -> str:
    for respondent in case.report.respondents:
        if respondent.entity.uscc or respondent.entity.name:
            return respondent.entity.uscc or respondent.entity.name
        for online in respondent.online_identifiers:
            return online.shop_url or online.seller_id
    return ""


@actions.command("progress")
def progress(
    ctx: typer.Context, action_id: Annotated[str, typer.Argument()], as_json: JsonOption = False
) -> None:
    """A special action's cases by participating bureau and status."""
    with reported(connection(ctx).named("intake")), connection(ctx).services() as services:
        answer = services.intake.GetActionProgress(S.GetActionProgressRequest(action_id=action_id))
    if as_json:
        print_json(answer)
        return
    console.print(progress_table(answer))


def progress_table(answer: S.ActionProgress) -> Table:
    """Cases per participating bureau (rows) and status (columns: those any bureau has)."""
    statuses = [f"CASE_STATUS_{s.upper()}" for s in STATUSES]
    shown = [s for s in statuses if any(b.cases_by_status.get(s) for b in answer.bureaus)]
    state = "concluded" if answer.concluded else "running"
    return rows_table(
        f"Special action {answer.action_id} ({state}), led by {answer.lead_bureau}: "
        f"{answer.total_cases} case(s)",
        ["bureau", *(s.removeprefix("CASE_STATUS_").lower().replace("_", " ") for s in shown)],
        [[b.bureau, *(b.cases_by_status.get(s, 0) for s in shown)] for b in answer.bureaus],
    )
