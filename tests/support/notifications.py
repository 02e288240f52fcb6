"""Facts for the notifications service's tests: a case of ipb-sz and facts on it."""

from __future__ import annotations

from ipcoord.platform import codec
from ipcoord.v1 import intake_pb2 as S

from support.reports import report, uscc

RESPONDENT = uscc(41)


def fact(body, key: str) -> codec.Envelope:
    return codec.envelope(body, producer_bureau="ipcoord-intake", subject_key=key)


def case_facts(case_id: str, count: int, handling: str = "ipb-sz") -> list[codec.Envelope]:
    """A case filed to ``handling`` and ``count - 1`` more facts on it: ``count``
    notifications for that bureau, in order (one case, one partition)."""
    filed = S.CaseFiled(
        case_id=case_id,
        submitting_bureau="monitor-cnipa",
        handling_bureau=handling,
        report=report(f"r-{case_id}", respondent_uscc=RESPONDENT),
    )
    more = [
        fact(S.CaseAccepted(case_id=case_id, by_bureau=handling), case_id) for _ in range(count - 1)
    ]
    return [fact(filed, case_id), *more]
