"""A CaseIntake servicer that answers GetCase with the caller's bureau: identity end to end."""

from __future__ import annotations

from ipcoord.platform.identity import IdentityResolver
from ipcoord.v1 import intake_pb2, intake_pb2_grpc


class WhoAmI(intake_pb2_grpc.CaseIntakeServicer):
    def __init__(self, identity: IdentityResolver) -> None:
        self._identity = identity

    async def GetCase(self, request, context):
        return intake_pb2.CaseView(case_id=await self._identity.caller_bureau(context))

    def registration(self) -> tuple:
        return (intake_pb2_grpc.add_CaseIntakeServicer_to_server, self, "ipcoord.v1.CaseIntake")
