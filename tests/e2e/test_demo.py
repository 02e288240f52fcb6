"""`ipcoord demo` (what `make dev` runs) against the three services on the real broker: it
runs to its summary, and a second run adds no fact to the shared log."""

from __future__ import annotations

from ipcoord.demo import data
from ipcoord.platform.topics import CASES, CREDIT
from support.cli import ipcoord
from support.kafka import records_published


async def test_the_demo_runs_to_its_summary_and_a_second_run_adds_nothing(system, settings):
    first = await ipcoord(settings, system.addresses, "demo")
    assert first.exit_code == 0, first.output
    listing = f"L-{data.REPEAT_INFRINGER.uscc}-1"
    for shown in ("Reports: 301 submitted", listing, "Notifications", "DEMO-TYPO-1"):
        assert shown in first.output
    facts = records_published(settings, CASES), records_published(settings, CREDIT)

    second = await ipcoord(settings, system.addresses, "demo")

    assert second.exit_code == 0, second.output
    assert "rejected by an earlier run" in second.output
    assert (records_published(settings, CASES), records_published(settings, CREDIT)) == facts
