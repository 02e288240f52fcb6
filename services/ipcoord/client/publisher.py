"""A bureau system's writes to the shared log: reports to intake, discipline feedback to
credit records. Each in an envelope under the bureau's name, with the key the service expects,
through an idempotent producer that waits for every replica (``acks=all``)."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaProducer

from ipcoord.client.grpc import Tls
from ipcoord.platform import codec
from ipcoord.platform.topics import DISCIPLINE_FEEDBACK, INTAKE_SUBMISSIONS, full_name
from ipcoord.v1 import credit_pb2, intake_pb2


class Publisher:
    def __init__(
        self,
        bootstrap_servers: str,
        bureau: str,
        *,
        tls: Tls | None = None,
        topic_prefix: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self._bureau, self._prefix, self._timeout_s = bureau, topic_prefix, timeout_s
        security = {}
        if tls is not None:
            security = {
                "security_protocol": "SSL",
                "ssl_cafile": str(Path(tls.ca)),
                "ssl_certfile": str(Path(tls.cert)),
                "ssl_keyfile": str(Path(tls.key)),
            }
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            acks="all",
            enable_idempotence=True,
            **security,
        )

    def submit(self, report: intake_pb2.ReportSubmitted) -> str:
        """A report for intake, keyed ``<bureau>/<external ref>`` (a bureau's reference names
        one report: sent again, it is the same). Returns its event id once the broker has it;
        intake's answer is a fact on ipcoord.cases.v1 (or a SubmissionRejected under the same
        key) whose causation_id is that id."""
        if not report.external_ref:
            raise ValueError("report.external_ref is required: it names the report")
        key = f"{self._bureau}/{report.external_ref}"
        return self._send(full_name(INTAKE_SUBMISSIONS, self._prefix), report, key)

    def feedback(self, feedback: credit_pb2.DisciplineFeedbackSubmitted) -> str:
        """A department's feedback on one measure of a listing, keyed by the listing id. On
        Kafka the department is declared, not proven (credit records marks it so)."""
        if not feedback.listing_id:
            raise ValueError("feedback.listing_id is required")
        return self._send(
            full_name(DISCIPLINE_FEEDBACK, self._prefix), feedback, feedback.listing_id
        )

    def _send(self, topic: str, body, key: str) -> str:
        env = codec.envelope(body, producer_bureau=self._bureau, subject_key=key)
        sent = self._producer.send(
            topic,
            key=key.encode(),
            value=codec.encode(env),
            headers=codec.headers(env),
        )
        sent.get(timeout=self._timeout_s)  # raises what the broker refused
        return env.event_id

    def flush(self) -> None:
        self._producer.flush(timeout=self._timeout_s)

    def close(self) -> None:
        self._producer.close(timeout=self._timeout_s)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
