"""Domain errors shared by all services. They name their own codes (``RefusalCode`` of the
contract) and know nothing of gRPC: platform/grpc_errors.py maps them to a status at the edge."""

from __future__ import annotations

from dataclasses import dataclass

from ipcoord.v1 import common_pb2


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


def code_name(code: int) -> str:
    """'ILLEGAL_TRANSITION' for REFUSAL_CODE_ILLEGAL_TRANSITION: for logs and messages."""
    return common_pb2.RefusalCode.Name(code).removeprefix("REFUSAL_CODE_")
