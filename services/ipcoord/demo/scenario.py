"""The demo as the bureaus would live it, through the same interfaces they use: gRPC calls
under each bureau's identity and the bureau-side Kafka publisher. Every step looks at the
state first and does only what is not done yet, so a second run adds nothing.

  1. ipb-gd launches a joint special action; the four other bureaus join it.
  2. The protection center registers its target enterprise (its cases are fast-tracked).
  3. amr-sz subscribes to the repeat infringer by webhook; ipb-sz follows its stream.
  4. A few hundred monitoring reports: each shop's first files a case, the others link to it;
     one with a mistyped USCC is rejected with intake's reason.
  5. The handling bureaus take ten cases to a decision; the repeat infringer's first case is
     closed, it offends again, and the second decision lists it in credit records.
  6. The implementing departments report back on their measures, one last, from its own
     system over Kafka (not overdue: a due date is the end of a working day, days away).
  7. Everyone's notifications: the stream, the right holder's inbox, the webhook."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from standardwebhooks import Webhook

from ipcoord.client import Publisher, Services
from ipcoord.client.batch import BatchStopped, Submitted, submit_all
from ipcoord.client.report_files import ReportLine
from ipcoord.demo import data
from ipcoord.v1 import credit_pb2 as C
from ipcoord.v1 import intake_pb2 as S
from ipcoord.v1 import notifications_pb2 as N

# How long the demo waits for the log to carry a step's effects to the next service.
SETTLE_S = 90.0


@dataclass
class Outcome:
    """What the summary shows, read back from the services (the same on a second run)."""

    submitted: list[Submitted] = field(default_factory=list)
    rejected: list[Submitted] = field(default_factory=list)
    decided: list[str] = field(default_factory=list)
    listing: C.CheckDisciplineResponse | None = None
    feedback: C.ListingFeedback | None = None
    last_department: str = ""
    progress: S.ActionProgress | None = None
    streamed: list[N.Notification] = field(default_factory=list)
    inbox: list[N.Notification] = field(default_factory=list)
    webhooks_received: int = 0
    webhooks_delivered: int = 0
    fast_tracked: int = 0
    steps: list[str] = field(default_factory=list)


class Demo:
    def __init__(self, addresses: dict[str, str], bootstrap: str, topic_prefix: str) -> None:
        self._addresses, self._bootstrap, self._prefix = addresses, bootstrap, topic_prefix
        self._as: dict[str, Services] = {}
        self.outcome = Outcome()
        self.receiver = WebhookReceiver()
        self.stream = StreamWatcher(self.as_bureau("ipb-sz"), "ipb-sz")

    def as_bureau(self, bureau: str) -> Services:
        if bureau not in self._as:
            self._as[bureau] = Services(**self._addresses, dev_bureau=bureau, deadline_s=20.0)
        return self._as[bureau]

    def close(self) -> None:
        """The webhook's receiver lives as long as the demo: its subscription goes with it."""
        self.stream.stop()
        if self.receiver.secret:
            with contextlib.suppress(grpc.RpcError):
                self.as_bureau("amr-sz").notifications.DeleteSubscription(
                    N.DeleteSubscriptionRequest(subscription_id=data.WEBHOOK_SUBSCRIPTION)
                )
        self.receiver.stop()
        for services in self._as.values():
            services.close()

    def run(self, step: Callable[[str], None] = lambda _: None) -> Outcome:
        for description, action in (
            ("waiting for the three services to serve", self.wait_until_serving),
            ("special action launched and joined", self.launch_action),
            ("target enterprise registered for fast-track", self.register_target),
            ("webhook subscription and stream opened", self.subscribe),
            (f"{data.REPORT_COUNT} monitoring reports submitted", self.submit_reports),
            ("cases decided; the repeat infringer offends again", self.decide_cases),
            ("repeat infringer listed in credit records", self.wait_for_listing),
            ("departments' feedback (one last, over Kafka)", self.departments_report),
            ("notifications delivered", self.collect_notifications),
        ):
            step(description)
            _again_after_a_timeout(action)
            self.outcome.steps.append(description)
        return self.outcome

    def wait_until_serving(self) -> None:
        """Each service's standard health check says SERVING (it has recovered its state)."""
        for name, address in self._addresses.items():
            with grpc.insecure_channel(address) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                request = health_pb2.HealthCheckRequest()
                _eventually(
                    lambda h=health, r=request: (
                        h.Check(r, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
                    ),
                    f"{name} at {address} to serve",
                    retried=(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED),
                )

    # 1
    def launch_action(self) -> None:
        lead = self.as_bureau(data.LEAD).intake
        try:
            lead.GetActionProgress(S.GetActionProgressRequest(action_id=data.ACTION_ID))
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            try:
                lead.LaunchSpecialAction(data.launch(datetime.now(UTC)))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:  # a timed-out first try
                    raise
        for bureau in data.PARTICIPANTS:  # joining twice changes nothing
            self.as_bureau(bureau).intake.JoinSpecialAction(
                S.JoinSpecialAction(action_id=data.ACTION_ID)
            )

    # 2
    def register_target(self) -> None:
        center = self.as_bureau("ppc-shenzhen").intake
        center.RegisterTargetEnterprise(
            S.RegisterTargetEnterprise(
                enterprise={"uscc": data.TARGET.uscc, "name": data.TARGET.name}
            )
        )

    # 3
    def subscribe(self) -> None:
        self.receiver.start()
        subscription = self.as_bureau("amr-sz").notifications.PutSubscription(
            N.Subscription(
                subscription_id=data.WEBHOOK_SUBSCRIPTION,
                filter=N.SubscriptionFilter(entities=[data.REPEAT_INFRINGER.uscc]),
                channels=[N.CHANNEL_WEBHOOK, N.CHANNEL_INBOX],
                webhook_url=self.receiver.url,
            )
        )
        self.receiver.secret = subscription.webhook_secret
        self.stream.start()

    # 4
    def submit_reports(self) -> None:
        batches: dict[str, list[ReportLine]] = {}
        for n, submission in enumerate(data.reports(), start=1):
            batches.setdefault(submission.submitter, []).append(ReportLine(n, submission.report))
        submitted = []
        for submitter, lines in batches.items():
            submitted += submit_all(self.as_bureau(submitter), lines)
        submitted.append(self._invalid_once())
        self.outcome.submitted = submitted  # whole, also when the step runs again
        self.outcome.rejected = [s for s in submitted if s.outcome == "rejected"]

    def _invalid_once(self) -> Submitted:
        """The mistyped report, unless an earlier run sent it: a rejected report is not
        remembered under its reference, so sending it again would add a rejection."""
        invalid = data.invalid_report()
        ref = invalid.report.external_ref
        request = N.ListNotificationsRequest(recipient=invalid.submitter)
        request.page.page_size = 500
        inbox = self.as_bureau(data.OPERATOR).notifications.ListNotifications(request)
        for notification in inbox.notifications:
            record = notification.record
            if (record.source_event_type, record.subject_key) == (
                "SubmissionRejected",
                f"{invalid.submitter}/{ref}",
            ):
                why = "see `ipcoord tail cases --from-beginning --type SubmissionRejected`"
                return Submitted(0, ref, "rejected", reason=f"rejected by an earlier run ({why})")
        line = ReportLine(data.REPORT_COUNT + 1, invalid.report)
        return submit_all(self.as_bureau(invalid.submitter), [line])[0]

    # 5
    def decide_cases(self) -> None:
        case_of = {s.external_ref: s.case_id for s in self.outcome.submitted if s.case_id}
        # Reports DEMO-0001.. are each shop's first: DEMO-0001 is the repeat infringer's.
        firsts = list(
            dict.fromkeys(case_of[f"DEMO-{n:04d}"] for n in range(1, data.DECIDED_CASES + 1))
        )
        for n, case_id in enumerate(firsts):
            # The last one's infringement is not established (no record in credit).
            self._drive(case_id, established=n != len(firsts) - 1)
        self._close(case_of["DEMO-0001"])
        self._refer(case_of[data.REFERRED_REF])
        again = data.second_offence()
        answer = self.as_bureau(again.submitter).intake.SubmitReport(
            S.SubmitReportRequest(report=again.report)
        )
        self._drive(answer.case_id, established=True)
        self.outcome.decided = [*firsts, answer.case_id]

    def _drive(self, case_id: str, *, established: bool) -> None:
        """From wherever the case is to decided: accept, assign, investigate, decide."""
        for _ in range(5):
            case = self._any_intake().GetCase(S.GetCaseRequest(case_id=case_id))
            intake = self.as_bureau(case.handling_bureau).intake
            if case.status == S.CASE_STATUS_FILED:
                intake.AcceptCase(S.AcceptCase(case_id=case_id))
            elif case.status == S.CASE_STATUS_ACCEPTED:
                intake.AssignCase(S.AssignCase(case_id=case_id, assignee="inspector-li"))
            elif case.status == S.CASE_STATUS_ASSIGNED:
                intake.StartInvestigation(S.StartInvestigation(case_id=case_id))
            elif case.status == S.CASE_STATUS_UNDER_INVESTIGATION:
                respondent = case.report.respondents[0].entity.uscc
                intake.DecideCase(
                    S.DecideCase(
                        case_id=case_id,
                        decision=S.Decision(
                            infringement_established=established,
                            infringement_type=case.report.infringement_type,
                            respondent_uscc=respondent,
                            penalty="fine, confiscation of the goods" if established else "",
                            fine_cny=50_000 if established else 0,
                            decision_number=f"DEMO-DEC-{case_id[-6:]}",
                        ),
                    )
                )
            else:
                return

    def _close(self, case_id: str) -> None:
        case = self._any_intake().GetCase(S.GetCaseRequest(case_id=case_id))
        if case.status == S.CASE_STATUS_DECIDED:
            self.as_bureau(case.handling_bureau).intake.CloseCase(
                S.CloseCase(case_id=case_id, reason="penalty paid")
            )

    def _refer(self, case_id: str) -> None:
        case = self._any_intake().GetCase(S.GetCaseRequest(case_id=case_id))
        if case.handling_bureau != data.POLICE:
            self.as_bureau(case.handling_bureau).intake.TransferCase(
                S.TransferCase(
                    case_id=case_id,
                    to_bureau=data.POLICE,
                    reason="suspected crime (counterfeit registered trademark): referred",
                )
            )

    def _any_intake(self):
        return self.as_bureau(data.LEAD).intake

    # 6
    def wait_for_listing(self) -> None:
        credit = self.as_bureau("amr-sz").credit
        request = C.CheckDisciplineRequest(uscc=data.REPEAT_INFRINGER.uscc)
        self.outcome.listing = _eventually(
            lambda: (answer := credit.CheckDiscipline(request)).applies and answer,
            "the repeat infringer to be listed",
        )

    def departments_report(self) -> None:
        listing = self.outcome.listing
        lookup = C.GetListingFeedbackRequest(listing_id=listing.listing_id)
        pending = self.as_bureau(data.OPERATOR).credit.GetListingFeedback(lookup)
        departments = sorted({m.implementing_department for m in listing.measures})
        self.outcome.last_department = departments[-1]
        for department in departments:
            if department not in pending.departments_pending:
                continue  # reported on an earlier run
            measures = [m for m in listing.measures if m.implementing_department == department]
            for measure in measures:
                feedback = C.DisciplineFeedbackSubmitted(
                    listing_id=listing.listing_id,
                    department=department,
                    measure_code=measure.code,
                    outcome=C.MEASURE_OUTCOME_APPLIED,
                )
                if department == self.outcome.last_department:
                    # Last, after the others, and the other way in: the department's own
                    # system on Kafka (not overdue: that takes its working days to pass).
                    time.sleep(2)
                    with Publisher(self._bootstrap, department, topic_prefix=self._prefix) as p:
                        p.feedback(feedback)
                else:
                    self.as_bureau(department).credit.SubmitFeedback(feedback)
        credit = self.as_bureau(data.OPERATOR).credit
        self.outcome.feedback = _eventually(
            lambda: not (f := credit.GetListingFeedback(lookup)).departments_pending and f,
            "every department's feedback",
        )

    # 7
    def collect_notifications(self) -> None:
        operator = self.as_bureau(data.OPERATOR).notifications
        holder = data.RIGHT_HOLDERS[0].uscc

        def inbox(recipient: str) -> list[N.Notification]:
            request = N.ListNotificationsRequest(recipient=recipient)
            request.page.page_size = 500
            return list(operator.ListNotifications(request).notifications)

        def delivered() -> list[N.Notification]:
            kept = [n for n in inbox("amr-sz") if n.webhooks]
            done = [n for n in kept if all(w.state != N.DELIVERY_STATE_PENDING for w in n.webhooks)]
            return kept if kept and len(done) == len(kept) else []

        hooked = _eventually(delivered, "the webhooks to be delivered")
        self.outcome.webhooks_delivered = sum(
            1 for n in hooked for w in n.webhooks if w.state == N.DELIVERY_STATE_DELIVERED
        )
        self.outcome.webhooks_received = self.receiver.verified
        self.outcome.inbox = inbox(holder)
        self.outcome.streamed = self.stream.received
        intake = self._any_intake()
        self.outcome.progress = intake.GetActionProgress(
            S.GetActionProgressRequest(action_id=data.ACTION_ID)
        )
        self.outcome.fast_tracked = sum(
            1
            for case_id in {s.case_id for s in self.outcome.submitted if s.case_id}
            if intake.GetCase(S.GetCaseRequest(case_id=case_id)).fast_tracked
        )


def _again_after_a_timeout(step: Callable[[], None], tries: int = 3) -> None:
    """A write that timed out is on the log and will be decided; each step looks at the state
    before it writes, so running it again finishes what the first try left."""
    for attempt in range(1, tries + 1):
        try:
            return step()
        except (grpc.RpcError, BatchStopped) as exc:
            error = exc.cause if isinstance(exc, BatchStopped) else exc
            timed_out = getattr(error, "code", lambda: None)() == grpc.StatusCode.DEADLINE_EXCEEDED
            if not timed_out or attempt == tries:
                raise error from None


def _eventually(
    probe: Callable[[], object],
    what: str,
    timeout_s: float = SETTLE_S,
    # A lookup on a service still recovering, or a listing not there yet.
    retried: tuple = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND),
):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = probe()
        except grpc.RpcError as exc:
            if exc.code() not in retried:
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}; see var/run/*.log")
        time.sleep(0.5)


class StreamWatcher:
    """A bureau's notification stream, followed in a thread from its oldest kept one."""

    def __init__(self, services: Services, recipient: str) -> None:
        self._services, self._recipient = services, recipient
        self.received: list[N.Notification] = []
        self._call = None
        self._thread = threading.Thread(target=self._follow, name="demo-stream", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def _follow(self) -> None:
        request = N.SubscribeRequest(recipient=self._recipient)
        try:
            self._call = self._services.notifications.Subscribe(request, timeout=None)
            for notification in self._call:
                self.received.append(notification)
        except grpc.RpcError:
            pass  # cancelled when the demo ends

    def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()


class WebhookReceiver:
    """A bureau's webhook endpoint: verifies each delivery's Standard Webhooks signature."""

    def __init__(self) -> None:
        self.secret = ""
        self.verified = 0
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:
                    receiver.refused += 1
                    self.send_response(401)
                else:
                    receiver.verified += 1
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/ipcoord"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-webhooks", daemon=True
        )

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
