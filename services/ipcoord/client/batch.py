"""A batch of reports submitted to intake over gRPC, a few calls in flight, with what became of
each: filed as a new case, linked to an open one (source tracing), or rejected with intake's
reason; and whether it had been submitted before (a resubmission changes nothing).

A refusal of one report (invalid, unknown action...) is that report's outcome; anything that
would refuse every report (unreachable, a caller intake does not know, a deadline) stops the
batch: nothing more is sent, and BatchStopped carries the outcomes so far."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

import grpc

from ipcoord.client.grpc import Services
from ipcoord.client.report_files import ReportLine
from ipcoord.v1 import intake_pb2 as S

# Calls in flight: intake orders submissions on one partition, so more only queue there.
IN_FLIGHT = 8
# Refusals of one report, not of the caller or the batch.
_REPORT_REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_OUTCOMES = {S.SUBMISSION_OUTCOME_FILED: "filed", S.SUBMISSION_OUTCOME_LINKED: "linked"}


@dataclass(frozen=True)
class Submitted:
    line: int
    external_ref: str
    outcome: str  # filed | linked | rejected
    case_id: str = ""
    reason: str = ""
    # Submitted before under the same reference: nothing new happened; the outcome is the
    # first submission's.
    again: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def submit_one(services: Services, item: ReportLine) -> Submitted:
    if item.report is None:
        return Submitted(item.line, item.external_ref, "rejected", reason=item.error)
    ref = item.report.external_ref
    try:
        answer = services.intake.SubmitReport(S.SubmitReportRequest(report=item.report))
    except grpc.RpcError as exc:
        if exc.code() not in _REPORT_REFUSALS:
            raise
        return Submitted(item.line, ref, "rejected", reason=f"{exc.code().name}: {exc.details()}")
    outcome = _OUTCOMES.get(answer.outcome, "unknown")
    return Submitted(item.line, ref, outcome, case_id=answer.case_id, again=answer.duplicate)


class BatchStopped(Exception):
    """The batch stopped before its end: ``done`` holds the outcomes of the reports sent, in
    order (a report whose call failed is not among them: it may or may not have been taken),
    ``cause`` what stopped it (an RpcError, or KeyboardInterrupt)."""

    def __init__(self, done: list[Submitted], total: int, cause: BaseException) -> None:
        super().__init__(f"stopped after {len(done)} of {total} report(s): {cause!r}")
        self.done, self.total, self.cause = done, total, cause


def submit_all(
    services: Services, items: Iterable[ReportLine], *, advance: Callable[[], None] = lambda: None
) -> list[Submitted]:
    """Every report, at most IN_FLIGHT at a time, in order; results in the input's order.

    On an error every report would get, or Ctrl-C, no further report is sent; the ones in
    flight finish, and BatchStopped says how far it got."""
    items = list(items)
    results: list[Submitted] = []
    in_flight: deque[Future] = deque()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        try:
            for item in items:
                if len(in_flight) == IN_FLIGHT:
                    results.append(in_flight.popleft().result())
                    advance()
                in_flight.append(pool.submit(submit_one, services, item))
            while in_flight:
                results.append(in_flight.popleft().result())
                advance()
        except (grpc.RpcError, KeyboardInterrupt) as exc:
            for future in in_flight:  # let them finish; keep what they answered
                with contextlib.suppress(grpc.RpcError):
                    results.append(future.result())
            raise BatchStopped(results, len(items), exc) from exc
    return results
