"""Every Kafka key intake writes, in one place.

- ``ipcoord.intake.submissions.v1``: a report under ``<bureau>/<external ref>``
  (``submission_key``), a command under ``command_key`` (the case, the action, the target or
  the seller it is about).
- ``ipcoord.intake.control.v1``: listings relayed from credit and case facts relayed from the
  case writers keep the keys they had.
- ``ipcoord.intake.casework.v1``: a case command, a fact the matcher decided and a
  submission's answer under the case id (the partition of ``partition_of(case id)``, that of
  ipcoord.cases.v1); the clock's ticks and the copies every partition keeps go to each
  partition by number.
- ``ipcoord.intake.replies.v1``: a reply under the replica that waits for it (the replica id,
  platform/sending.py).
- ``ipcoord.cases.v1``: a fact under ``fact_key``: its case id (``case_id_for`` names a
  filed case), else its action id, else the thing it is about.

Pure: no Kafka here, only the strings."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from ipcoord.intake import matching

# Where a case's writer and tables are (the partition of ipcoord.intake.casework.v1 and of
# ipcoord.cases.v1).
from ipcoord.platform.ownership import partition_of as partition_of
from ipcoord.v1 import intake_pb2 as S

if TYPE_CHECKING:
    from ipcoord.platform.codec import Envelope

CLOCK = "clock"
# The submissions topic has one partition: the matcher orders every filing, and its replica
# holds the matcher's tables (lookups of them elsewhere are forwarded there).
MATCHER_PARTITION = 0
# An IdentifyRespondent whose identifier gives no key (the writer refuses it).
_UNKEYED_IDENTIFICATION = "identify"
_CASE_NAMESPACE = uuid.UUID("5b0c3c8e-9f0e-4a57-9d1c-2f1a1f5e0c11")


def submission_key(bureau: str, external_ref: str) -> str:
    """A bureau's reference: the key of its report and of the report's rejection, and the
    key of the reference in the submissions table."""
    return f"{bureau}/{external_ref}"


def case_id_for(bureau: str, external_ref: str) -> str:
    """Deterministic: the same submission always names the same case, even on replay."""
    return str(uuid.uuid5(_CASE_NAMESPACE, submission_key(bureau, external_ref)))


def identification_key(identifier) -> str:
    """The key of an IdentifyRespondent: every key of the seller's online identifier."""
    return ",".join(matching.online_keys(identifier)) or _UNKEYED_IDENTIFICATION


def command_key(command: Message, bureau: str) -> str:
    """The key of a command ``bureau`` sends through the gRPC API (the clock's ticks, the one
    command the API never sends, go under ``CLOCK``)."""
    match command:
        case S.ReportSubmitted():
            return submission_key(bureau, command.external_ref)
        case S.IdentifyRespondent():
            return identification_key(command.online_identifier)
        case S.RegisterTargetEnterprise():
            return command.enterprise.uscc
        case S.RemoveTargetEnterprise():
            return command.uscc
        case (
            S.LaunchSpecialAction()
            | S.JoinSpecialAction()
            | S.EnrollCases()
            | S.ConcludeSpecialAction()
        ):
            return command.action_id
    return command.case_id  # the lifecycle commands


def fact_key(event: Message, cause: Envelope) -> str:
    """The Kafka key on ipcoord.cases.v1: the case id, else the thing the fact is about."""
    for attr in ("case_id", "action_id"):
        value = getattr(event, attr, "")
        if value:
            return value
    match event:
        case S.SubmissionRejected():
            return submission_key(event.submitting_bureau, event.external_ref)
        case S.CaseCommandRejected():
            return event.subject_id or cause.subject_key
        case S.RespondentIdentified():
            # Keyed by the identifier: re-identifications of one seller stay in order.
            return matching.online_keys(event.online_identifier)[0]
        case S.TargetEnterpriseRegistered():
            return event.enterprise.uscc
        case S.TargetEnterpriseRemoved():
            return event.uscc
    return cause.subject_key
