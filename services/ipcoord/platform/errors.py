"""Domain errors shared by all services, and the one place that maps them to gRPC status."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class DomainError(Exception):
    """A refusal by the domain; the subclass says which kind."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class NotPermitted(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class IllegalTransition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(DomainError):
    """The name (an action id, a bureau's external reference) is taken; ``resource_name`` says
    by what, so the caller can go to it (over gRPC a google.rpc.ResourceInfo)."""

    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, reason: str, *, resource_type: str = "", resource_name: str = "") -> None:
        super().__init__(reason)
        self.resource_type = resource_type
        self.resource_name = resource_name


@dataclass(frozen=True)
class Violation:
    field: str
    description: str


class InvalidInput(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


async def abort_with(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    """Abort the call with the error's status; field violations travel as google.rpc.BadRequest,
    what already exists as google.rpc.ResourceInfo."""
    status = status_pb2.Status(code=code_pb2.Code.Value(error.code.name), message=error.reason)
    if isinstance(error, InvalidInput):
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(detail)
    if isinstance(error, AlreadyExists) and error.resource_name:
        status.details.add().Pack(
            error_details_pb2.ResourceInfo(
                resource_type=error.resource_type,
                resource_name=error.resource_name,
                description=error.reason,
            )
        )
    await context.abort_with_status(rpc_status.to_status(status))
