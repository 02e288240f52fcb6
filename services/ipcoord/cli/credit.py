"""`ipcoord credit check|profile`: credit records' lookups."""

from __future__ import annotations

from typing import Annotated

import typer

from ipcoord.cli.common import JsonOption, connection, console, print_json, reported, rows_table
from ipcoord.v1 import credit_pb2 as C

app = typer.Typer(
    help="Credit records: discipline checks and credit profiles.", no_args_is_help=True
)


@app.command("check")
def check(
    ctx: typer.Context,
    uscc: Annotated[str, typer.Argument(help="The entity's unified social credit code.")],
    measure: Annotated[str, typer.Option(help="Only this measure code.")] = "",
    department: Annotated[str, typer.Option(help="Only this department's measures.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Whether joint discipline applies to an entity now, and which measures."""
    request = C.CheckDisciplineRequest(uscc=uscc, measure_code=measure, department=department)
    with reported(connection(ctx).named("credit")), connection(ctx).services() as services:
        answer = services.credit.CheckDiscipline(request)
    if as_json:
        print_json(answer)
        return
    if not answer.applies:
        console.print(f"{uscc}: no joint discipline applies", highlight=False)
        return
    until = answer.until.ToDatetime().date() if answer.HasField("until") else "-"
    console.print(
        rows_table(
            f"{uscc}: listed ({answer.listing_id}) until {until}",
            ["measure", "department", "what it means"],
            [[m.code, m.implementing_department, m.text] for m in answer.measures],
        )
    )


@app.command("profile")
def profile(
    ctx: typer.Context,
    uscc: Annotated[str, typer.Argument(help="The entity's unified social credit code.")],
    as_json: JsonOption = False,
) -> None:
    """An entity's dishonesty records and its active and removed listings."""
    with reported(connection(ctx).named("credit")), connection(ctx).services() as services:
        answer = services.credit.GetCreditProfile(C.GetCreditProfileRequest(uscc=uscc))
    if as_json:
        print_json(answer)
        return
    if not (answer.records or answer.active_listings or answer.removed_listings):
        console.print(f"{uscc}: no dishonesty record, never listed", highlight=False)
        return
    console.print(
        rows_table(
            f"{uscc}: {len(answer.records)} dishonesty record(s)",
            ["record", "case", "by", "when"],
            [
                [r.record_id, r.source_case_id, r.recorded_by, r.occurred_at.ToDatetime()]
                for r in answer.records
            ],
        )
    )
    console.print(
        rows_table(
            f"{len(answer.active_listings)} active listing(s)",
            ["listing", "rule", "listed", "expires", "measures"],
            [
                [
                    listing.listing_id,
                    listing.rule,
                    listing.listed_at.ToDatetime().date(),
                    listing.expires_at.ToDatetime().date(),
                    len(listing.measures),
                ]
                for listing in answer.active_listings
            ],
        )
    )
    if answer.removed_listings:
        console.print(f"{len(answer.removed_listings)} removed listing(s)", highlight=False)
