"""Filing: a bureau's report either files a new case or is linked into the open case it
traces to. The bureau's reference is an idempotency key: the same report again is a
duplicate, a different report under a used reference is refused."""

from __future__ import annotations

import hashlib

from google.protobuf.message import Message

from ipcoord.intake import matching, normalise
from ipcoord.intake.domain import actions, fast_track, lifecycle, tracing
from ipcoord.intake.domain.shared import Command, Meta, Rules, history
from ipcoord.intake.keys import case_id_for, submission_key
from ipcoord.intake.state import LINKED_REPORTS_KEPT, MATCH_KEYS_KEPT, Case, IntakeState, Submission
from ipcoord.intake.validation import validate_report
from ipcoord.platform.errors import AlreadyExists, InvalidInput, Violation
from ipcoord.v1 import intake_pb2 as S

# ------------------------------------------------------------------------------ references


def report_digest(report: S.ReportSubmitted) -> str:
    """What tells a retry from new content under the same reference: the bytes of the report
    as the rules read it (USCCs normalised), so a retry typed in lower case is the same."""
    canonical = normalise.with_normalised_usccs(report)
    return hashlib.sha256(canonical.SerializeToString(deterministic=True)).hexdigest()


def known_submission(state: IntakeState, bureau: str, report: S.ReportSubmitted) -> str | None:
    """The case this very report already went to (filed or linked into); None while its
    reference is unused. The reference is an idempotency key, as in payment APIs: the same
    report again is a duplicate, a different report under it is refused."""
    held = state.submissions.get(submission_key(bureau, report.external_ref))
    if held is None:
        return None
    if held.digest != report_digest(report):
        raise AlreadyExists(
            f"external_ref {report.external_ref!r} of {bureau} is already used for case "
            f"{held.case_id} by a different report; send new content under a new reference",
            resource_type="case",
            resource_name=held.case_id,
        )
    return held.case_id


# ------------------------------------------------------------------------------ decide


def _submit(cmd: Command, state: IntakeState, rules: Rules) -> list[Message]:
    report: S.ReportSubmitted = cmd.body
    if known_submission(state, cmd.actor, report) is not None:
        return []  # idempotent: this bureau already handed in this very report
    violations = validate_report(report, cmd.actor, rules.bureaus, rules.uscc_allow)
    if report.special_action_id and report.special_action_id not in state.actions:
        violations.append(
            Violation("special_action_id", f"unknown special action {report.special_action_id!r}")
        )
    if violations:
        raise InvalidInput(violations)
    keys = state.with_identities(matching.report_keys(report))
    match = tracing.linkable_case(keys, state)
    if match is not None:
        case_id, key = match
        return [
            S.ReportLinked(
                case_id=case_id,
                submitting_bureau=cmd.actor,
                external_ref=report.external_ref,
                basis=matching.basis_of(key),
                match_key=key,
                report=report,
            )
        ]
    case_id = case_id_for(cmd.actor, report.external_ref)
    handler = report.handling_bureau or cmd.actor
    events: list[Message] = [
        S.CaseFiled(
            case_id=case_id, submitting_bureau=cmd.actor, handling_bureau=handler, report=report
        )
    ]
    events += fast_track.on_filing(case_id, handler, report, cmd.at, state, rules)
    events += actions.on_filing(case_id, handler, report, cmd.at, state)
    return events


DECIDERS = {S.ReportSubmitted: _submit}

# ------------------------------------------------------------------------------ evolve


def _on_filed(state: IntakeState, e: S.CaseFiled, meta: Meta) -> None:
    if e.case_id in state.cases:
        return  # applied already: filing again must not reset what happened since
    keys = matching.report_keys(e.report)
    case = Case(
        case_id=e.case_id,
        status=S.CASE_STATUS_FILED,
        submitting_bureau=e.submitting_bureau,
        handling_bureau=e.handling_bureau,
        report=e.report,
        filed_at=meta.at,
        match_keys=keys,
        evidence=list(e.report.evidence),
    )
    history(case, e, meta, f"filed by {e.submitting_bureau}, handled by {e.handling_bureau}")
    state.cases[e.case_id] = case
    ref = submission_key(e.submitting_bureau, e.report.external_ref)
    state.submissions[ref] = Submission(e.case_id, report_digest(e.report))
    tracing.index_all(state, keys, case)
    lifecycle.index_bureaus(state, case)


def _on_linked(state: IntakeState, e: S.ReportLinked, meta: Meta) -> None:
    ref = submission_key(e.submitting_bureau, e.external_ref)
    held = state.submissions.get(ref)
    if held is not None and held.case_id == e.case_id:
        return  # applied already (a replay over live state): counts must not double
    state.submissions[ref] = Submission(e.case_id, report_digest(e.report))
    case = state.cases.get(e.case_id)
    if case is None or ref in case.linked_reports:
        # The case says it has the link (its own record, whatever reached the references: a
        # case writer taking the partition over after a crash recovers both from two changelogs).
        return
    # Not in the history: monitoring feeds can link thousands of reports into one case; the
    # history keeps what bureaus did, the latest links and the count say what feeds found.
    case.linked_reports = [*case.linked_reports, ref][-LINKED_REPORTS_KEPT:]
    case.linked_report_count += 1
    room = max(MATCH_KEYS_KEPT - len(case.match_keys), 0)
    new_keys = [k for k in matching.report_keys(e.report) if k not in case.match_keys][:room]
    case.match_keys = [*case.match_keys, *new_keys]
    state.cases[e.case_id] = case
    tracing.index_all(state, new_keys, case)


EVOLVERS = {
    S.CaseFiled: _on_filed,
    S.ReportLinked: _on_linked,
}
