"""`ipcoord demo`: a joint special action across five bureaus on the running services (what
`make dev` runs), then a summary; with --watch it follows the notifications until Ctrl-C."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated

import typer
from rich.markup import escape
from rich.rule import Rule

from ipcoord.cli.cases import progress_table
from ipcoord.cli.common import connection, console, reported, rows_table, settings
from ipcoord.demo import data
from ipcoord.demo.scenario import Demo, Outcome


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option(help="After the summary, follow ipb-sz's notifications until Ctrl-C.")
    ] = False,
) -> None:
    """Run the demo: a joint special action across five bureaus, then a summary.

    On the services at the configured addresses. Idempotent: run again, it adds nothing and
    shows the same summary."""
    address = connection(ctx)
    started = time.monotonic()
    with reported():
        config = settings()
        runner = Demo(
            {
                "intake": address.intake,
                "credit": address.credit,
                "notifications": address.notifications,
            },
            config.kafka_bootstrap_servers,
            config.topic_prefix,
        )
        try:
            with console.status("starting") as status:
                outcome = runner.run(lambda step: status.update(f"{step}..."))
            show_summary(outcome, time.monotonic() - started)
            if watch:
                _watch(runner)
        finally:
            runner.close()


def _watch(runner: Demo) -> None:
    console.print(Rule("ipb-sz's notifications as they come (Ctrl-C to stop)"))
    shown = len(runner.stream.received)
    try:
        while True:
            for notification in runner.stream.received[shown:]:
                record = notification.record
                console.print(
                    f"#{record.sequence} [bold]{record.source_event_type}[/] "
                    f"{escape(record.subject_key)} {escape(record.summary)}",
                    highlight=False,
                )
            shown = len(runner.stream.received)
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopped watching")


def show_summary(outcome: Outcome, elapsed_s: float) -> None:
    console.print(Rule(f"ipcoord demo: {data.ACTION_TITLE}"))
    departments = ", ".join(sorted({m.implementing_department for m in outcome.listing.measures}))
    console.print(
        rows_table(
            "Bureaus",
            ["bureau", "role"],
            [[bureau, role] for bureau, role in data.BUREAUS.items()]
            + [[data.MONITOR, "online monitoring feed: files most reports"]]
            + [[departments, "implementing departments of the listing's measures"]],
        )
    )
    counts = Counter(s.outcome for s in outcome.submitted)
    console.print(
        rows_table(
            f"Reports: {len(outcome.submitted)} submitted",
            [
                "filed (new case)",
                "linked to an open case",
                "rejected",
                "fast-tracked cases",
                "submitted by an earlier run",
            ],
            [
                [
                    counts["filed"],
                    counts["linked"],
                    counts["rejected"],
                    outcome.fast_tracked,
                    sum(s.again for s in outcome.submitted),
                ]
            ],
        )
    )
    if outcome.rejected:
        console.print(
            rows_table(
                "Rejected submission",
                ["reference", "reason"],
                [[r.external_ref, r.reason] for r in outcome.rejected],
            )
        )
    console.print(progress_table(outcome.progress))
    listing, feedback = outcome.listing, outcome.feedback
    console.print(
        rows_table(
            f"Credit: {data.REPEAT_INFRINGER.name} ({data.REPEAT_INFRINGER.uscc}) listed as "
            f"{listing.listing_id} after two established infringements",
            ["measure", "department", "feedback", "how"],
            [
                [m.code, m.implementing_department, *_feedback_of(feedback, m, outcome)]
                for m in listing.measures
            ],
        )
    )
    webhooks = f"{outcome.webhooks_delivered} delivered"
    if outcome.webhooks_received:
        webhooks += f", {outcome.webhooks_received} verified by this run's receiver"
    console.print(
        rows_table(
            "Notifications",
            ["channel", "recipient", "what"],
            [
                ["stream", "ipb-sz", _stream_line(outcome.streamed)],
                [
                    "inbox",
                    f"{data.RIGHT_HOLDERS[0].name} (right holder)",
                    f"{len(outcome.inbox)} kept, "
                    f"{sum(not n.acknowledged for n in outcome.inbox)} unread: "
                    + ", ".join(sorted({n.record.source_event_type for n in outcome.inbox})),
                ],
                ["webhook", "amr-sz (subscribed to the repeat infringer)", webhooks],
            ],
        )
    )
    console.print(f"Done in {elapsed_s:.0f} s. Try:", highlight=False)
    for example in (
        f"ipcoord --bureau ipb-gd action progress {data.ACTION_ID}",
        "ipcoord --bureau ipb-sz case list --status decided",
        f"ipcoord --bureau amr-sz credit check {data.REPEAT_INFRINGER.uscc}",
        "ipcoord --bureau ipb-sz notifications watch ipb-sz",
        "ipcoord tail cases --from-beginning --type CaseDecided",
        "ipcoord tail cases --from-beginning --type SubmissionRejected",
        "ipcoord replay intake",
    ):
        console.print(f"  .venv/bin/{example}", highlight=False)


def _stream_line(streamed: list) -> str:
    sequences = [n.record.sequence for n in streamed]
    gap_free = sequences == list(range(1, len(sequences) + 1))
    return f"{len(streamed)} received" + (
        ", numbered 1.. with no gap" if gap_free else f", sequences {sequences[:3]}..."
    )


def _feedback_of(feedback, measure, outcome: Outcome) -> list[str]:
    for given in feedback.feedback:
        if given.measure_code == measure.code:
            last = measure.implementing_department == outcome.last_department
            how = "last, over Kafka (declared)" if last else "gRPC (certificate)"
            return ["applied", how]
    return ["pending", ""]
