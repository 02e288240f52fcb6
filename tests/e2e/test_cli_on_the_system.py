"""The `ipcoord` command against the three services on the real broker, as a bureau's clerk or
an operator uses it: submit a file, look cases and credit up, follow notifications with a
saved cursor, read the shared log and the dead letters."""

from __future__ import annotations

import json

from ipcoord.platform.topics import INTAKE_SUBMISSIONS
from support.cli import ipcoord, json_lines
from support.kafka import eventually, produce
from support.reports import RIGHT_HOLDER, uscc

RESPONDENT = uscc(93)


def _report(ref: str, respondent: str = RESPONDENT) -> dict:
    return {
        "external_ref": ref,
        "channel": "REPORT_CHANNEL_ONLINE_MONITORING",
        "right_holder": {"uscc": RIGHT_HOLDER, "name": "Right Holder Ltd."},
        "respondents": [{"entity": {"uscc": respondent, "name": "Respondent Co."}}],
        "infringement_type": "INFRINGEMENT_TYPE_TRADEMARK",
        "division_code": "440300",
        "title": f"report {ref}",
    }


async def test_a_clerk_submits_a_file_and_follows_what_became_of_it(system, settings, tmp_path):
    run = lambda *args, bureau="ipb-sz": ipcoord(settings, system.addresses, *args, bureau=bureau)  # noqa: E731
    reports = tmp_path / "reports.jsonl"
    mistyped = RESPONDENT[:-1] + ("0" if RESPONDENT[-1] != "0" else "1")
    reports.write_text(
        "\n".join(
            json.dumps(r)
            for r in (_report("CLI-1"), _report("CLI-2"), _report("CLI-3", respondent=mistyped))
        )
    )

    submitted = await run("submit", str(reports), "--json")

    assert submitted.exit_code == 1  # one was rejected
    first, second, third = json_lines(submitted)
    # Up to eight reports are in flight at once, so which of the two arrives first (and files
    # the case) is the broker's order, not the file's.
    assert sorted((first["outcome"], second["outcome"])) == ["filed", "linked"]
    assert first["case_id"] == second["case_id"]
    filed_ref = first["external_ref"] if first["outcome"] == "filed" else second["external_ref"]
    assert third["outcome"] == "rejected" and "check character" in third["reason"]
    again = json_lines(await run("submit", str(reports), "--json"))
    assert [r["again"] for r in again[:2]] == [True, True]  # the same references: no change

    case_id = first["case_id"]
    (case,) = json_lines(await run("case", "show", case_id, "--json"))
    assert case["linked_report_count"] == 1
    listed = json_lines(await run("case", "list", "--respondent", RESPONDENT, "--json"))
    assert [c["case_id"] for c in listed] == [case_id]
    (check,) = json_lines(await run("credit", "check", RESPONDENT, "--json"))
    assert check == {}  # proto3 JSON leaves out the defaults: not listed
    profile = await run("credit", "profile", RESPONDENT)
    assert profile.exit_code == 0 and "no dishonesty record" in profile.output

    # The stream, resumed from the saved cursor: the second watch starts after the first.
    cursor = tmp_path / "cursor"
    watch = ("notifications", "watch", "ipb-sz", "--cursor-file", str(cursor), "--json")

    async def filed_notified() -> bool:
        inbox = json_lines(await run("notifications", "inbox", "ipb-sz", "--json"))
        return any(n["record"]["source_event_type"] == "CaseFiled" for n in inbox)

    await eventually(filed_notified)
    (one,) = json_lines(await run(*watch, "--count", "1"))
    assert cursor.read_text().strip() == str(one["record"]["sequence"]) == "1"
    (two,) = json_lines(await run(*watch, "--count", "1"))
    assert two["record"]["sequence"] == "2"

    # The shared log, decoded and filtered.
    filed = json_lines(await run("tail", "cases", "--from-beginning", "--type", "CaseFiled"))
    assert [r["subject"] for r in filed] == [case_id]
    assert filed[0]["body"]["report"]["external_ref"] == filed_ref
    by_nobody = json_lines(await run("tail", "cases", "--from-beginning", "--producer", "nobody"))
    assert by_nobody == []


async def test_an_operator_sees_what_was_refused_and_from_whom(system, settings):
    produce(settings, INTAKE_SUBMISSIONS, [(b"ipb-sz/X", b"\x08not an envelope")])
    run = lambda *args: ipcoord(settings, system.addresses, *args)  # noqa: E731

    async def refused() -> list[dict]:
        return json_lines(await run("dead-letters", "--json"))

    (letter,) = await eventually(refused)
    assert letter["error_class"] == "DecodeError"
    assert (letter["sender"], letter["original_key"]) == ("ipb-sz", "ipb-sz/X")
    assert letter["source_topic"].endswith("ipcoord.intake.submissions.v1")
    table = await run("dead-letters")
    assert table.exit_code == 0 and "DecodeError" in table.output
    others = await run("dead-letters", "--sender", "amr-sz")
    assert "no dead letters matching the filters" in others.output
