"""Domain errors shared by all services. They name their own codes (``RefusalCode`` of the
contract) and know nothing of gRPC: platform/grpc_errors.py maps them to a status at the edge."""

from __future__ import annotations

from dataclasses import dataclass

from ipcoord.v1 import common_pb2, intake_pb2, replies_pb2


class DomainError(Exception):
    """A refusal by the domain; the subclass says which kind."""

    code = common_pb2.REFUSAL_CODE_ILLEGAL_TRANSITION

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(DomainError):
    code = common_pb2.REFUSAL_CODE_NOT_FOUND


class NotPermitted(DomainError):
    code = common_pb2.REFUSAL_CODE_NOT_PERMITTED


class LimitReached(DomainError):
    """A bound on what is kept would be passed (a count per owner, a stored value's size)."""

    code = common_pb2.REFUSAL_CODE_LIMIT_REACHED


class IllegalTransition(DomainError):
    code = common_pb2.REFUSAL_CODE_ILLEGAL_TRANSITION


class AlreadyExists(DomainError):
    """The name (an action id, a bureau's external reference) is taken; ``resource_name`` says
    by what, so the caller can go to it (over gRPC a google.rpc.ResourceInfo)."""

    code = common_pb2.REFUSAL_CODE_ALREADY_EXISTS

    def __init__(self, reason: str, *, resource_type: str = "", resource_name: str = "") -> None:
        super().__init__(reason)
        self.resource_type = resource_type
        self.resource_name = resource_name


@dataclass(frozen=True)
class Violation:
    field: str
    description: str


class InvalidInput(DomainError):
    code = common_pb2.REFUSAL_CODE_INVALID_INPUT

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


_BY_CODE = {
    common_pb2.REFUSAL_CODE_NOT_FOUND: NotFound,
    common_pb2.REFUSAL_CODE_NOT_PERMITTED: NotPermitted,
    common_pb2.REFUSAL_CODE_ILLEGAL_TRANSITION: IllegalTransition,
    common_pb2.REFUSAL_CODE_LIMIT_REACHED: LimitReached,
}


def to_refusal(error: DomainError) -> replies_pb2.Refusal:
    """A refusal as the contract carries it (in a CommandReply, in the journal)."""
    return replies_pb2.Refusal(
        code=error.code,
        reason=error.reason,
        violations=[
            intake_pb2.FieldViolation(field=v.field, description=v.description)
            for v in getattr(error, "violations", [])
        ],
        resource_type=getattr(error, "resource_type", ""),
        resource_name=getattr(error, "resource_name", ""),
    )


def from_refusal(refusal: replies_pb2.Refusal) -> DomainError:
    if refusal.code == common_pb2.REFUSAL_CODE_INVALID_INPUT:
        return InvalidInput([Violation(v.field, v.description) for v in refusal.violations])
    if refusal.code == common_pb2.REFUSAL_CODE_ALREADY_EXISTS:
        return AlreadyExists(
            refusal.reason,
            resource_type=refusal.resource_type,
            resource_name=refusal.resource_name,
        )
    return _BY_CODE.get(refusal.code, DomainError)(refusal.reason)
