"""The one place that maps domain refusals to gRPC status, with rich error details."""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from ipcoord.platform.errors import AlreadyExists, DomainError, InvalidInput
from ipcoord.v1 import common_pb2

STATUS_OF = {
    common_pb2.REFUSAL_CODE_UNSPECIFIED: grpc.StatusCode.FAILED_PRECONDITION,
    common_pb2.REFUSAL_CODE_INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    common_pb2.REFUSAL_CODE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    common_pb2.REFUSAL_CODE_NOT_PERMITTED: grpc.StatusCode.PERMISSION_DENIED,
    common_pb2.REFUSAL_CODE_ILLEGAL_TRANSITION: grpc.StatusCode.FAILED_PRECONDITION,
    common_pb2.REFUSAL_CODE_ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    common_pb2.REFUSAL_CODE_LIMIT_REACHED: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


async def abort_with(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    """Abort the call with the error's status; field violations travel as google.rpc.BadRequest,
    what already exists as google.rpc.ResourceInfo."""
    status_code = STATUS_OF[error.code]
    status = status_pb2.Status(code=code_pb2.Code.Value(status_code.name), message=error.reason)
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
