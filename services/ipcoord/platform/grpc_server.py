"""grpc.aio server factory: health, reflection, TLS or explicit insecure dev mode, port 0."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from ipcoord.platform.grpc_metrics import MetricsInterceptor
from ipcoord.platform.settings import Settings

log = logging.getLogger(__name__)

# (add_XServicer_to_server, servicer, full service name)
Registration = tuple[Callable[[object, grpc.aio.Server], None], object, str]


class _MethodAwareReflectionServicer(reflection.aio.ReflectionServicer):
    """Stock grpc.aio reflection, plus ``file_containing_symbol("pkg.Service.Method")``.

    grpcio-reflection answers that request with ``DescriptorPool.FindFileContainingSymbol``,
    and protobuf's pool (upb and pure-Python alike, still in protobuf 7.x) indexes messages,
    enums, enum values, fields, extensions and services but not methods, so it raises KeyError
    and the servicer replies NOT_FOUND. ``grpcurl describe pkg.Service.Method`` and ghz (which
    resolves its ``--call`` target this way) then fail with "Symbol not found" while
    describing the service works. Upstream: https://github.com/grpc/grpc/issues/34743 (open).
    The method lives in its service's file, so a method symbol is answered with that file.
    """

    def _file_containing_symbol(
        self, request: reflection_pb2.ServerReflectionRequest, fully_qualified_name: str
    ) -> reflection_pb2.ServerReflectionResponse:
        response = super()._file_containing_symbol(request, fully_qualified_name)
        if not response.HasField("error_response"):
            return response
        try:
            method = self._pool.FindMethodByName(fully_qualified_name.lstrip("."))
        except KeyError:
            return response  # not a method either: keep the NOT_FOUND
        # Answer with the service's file; original_request still echoes the method symbol.
        return super()._file_containing_symbol(request, method.containing_service.full_name)


# The health name a liveness probe asks: SERVING from the server's start to its stop, whatever
# the readiness (a replica recovering its tables is alive; see platform/runner.py).
LIVENESS = "liveness"


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]
    # The plaintext health-only server (IPCOORD_HEALTH_PORT) and its port, if configured.
    health_server: grpc.aio.Server | None = None
    health_port: int | None = None

    async def set_serving(self, serving: bool = True) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING first so load balancers drain, then let calls finish."""
        await self.set_serving(False)
        await self.server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(0)


# How often readiness is evaluated: a probe sees a rebalance within this long.
READINESS_POLL_S = 0.2


async def report_readiness(
    server: RunningServer, readiness: Callable[[], bool], poll_s: float = READINESS_POLL_S
) -> None:
    """Keep the health status equal to ``readiness()`` until cancelled (platform/runner.py)."""
    serving: bool | None = None
    while True:
        try:
            now = readiness()
        except Exception:  # a bug in the check must not freeze health at its last answer
            log.exception("readiness check failed: reporting NOT_SERVING")
            now = False
        if now != serving:
            await server.set_serving(now)
            if serving is not None:
                log.info("readiness changed: %s", "SERVING" if now else "NOT_SERVING")
            serving = now
        await asyncio.sleep(poll_s)


async def create_server(
    registrations: Iterable[Registration],
    settings: Settings,
    *,
    port: int,
    service: str,
) -> RunningServer:
    """Build and start a server; it answers NOT_SERVING until ``set_serving()``."""
    registrations = list(registrations)
    server = grpc.aio.server(
        interceptors=[MetricsInterceptor(service)],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    for add, servicer, _ in registrations:
        add(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(name for _, _, name in registrations)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        _MethodAwareReflectionServicer((*names, health.SERVICE_NAME, reflection.SERVICE_NAME)),
        server,
    )
    address = f"{settings.grpc_host}:{port}"
    credentials = _server_credentials(settings)
    if credentials is None:
        if settings.insecure_dev_identity:
            log.warning(
                "gRPC server is INSECURE (dev mode): no TLS, callers name themselves with "
                "the x-ipcoord-bureau header. Never run this way in production."
            )
        else:
            log.warning(
                "gRPC server has no TLS and dev identity is off: every call will be refused "
                "as UNAUTHENTICATED. Set IPCOORD_TLS_* (production) or "
                "IPCOORD_INSECURE_DEV_IDENTITY=true (development)."
            )
        bound = server.add_insecure_port(address)
    else:
        if not settings.tls_client_ca_file and not settings.insecure_dev_identity:
            log.warning(
                "gRPC server has TLS but no IPCOORD_TLS_CLIENT_CA_FILE: callers present no "
                "bureau certificate, so every call will be refused as UNAUTHENTICATED."
            )
        bound = server.add_secure_port(address, credentials)
    if bound == 0:
        raise OSError(f"could not bind gRPC server to {address}")
    await server.start()
    running = RunningServer(server, bound, health_servicer, names)
    if settings.health_port is not None:
        running.health_server, running.health_port = await _health_only_server(
            health_servicer, f"{settings.grpc_host}:{settings.health_port}"
        )
    await running.set_serving(False)
    await health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    log.info("gRPC server listening", extra={"port": bound, "services": list(names)})
    return running


async def _health_only_server(
    servicer: health.aio.HealthServicer, address: str
) -> tuple[grpc.aio.Server, int]:
    """The same health statuses on a plaintext port, for probes that cannot do mTLS (the
    kubelet's): nothing but grpc.health.v1 is served there."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"could not bind the health port to {address}")
    await server.start()
    log.info("gRPC health served in plaintext", extra={"port": bound})
    return server, bound


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if not (settings.tls_cert_file and settings.tls_key_file):
        return None
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )
