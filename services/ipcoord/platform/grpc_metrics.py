"""A server interceptor counting every unary call by method and status code, with its duration."""

from __future__ import annotations

import time

import grpc

from ipcoord.platform import metrics


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, service: str) -> None:
        self._service = service
        # method -> its observed handler: a server's handlers are fixed once it serves, and
        # building a handler per call cost more than counting it.
        self._observed: dict[str, grpc.RpcMethodHandler | None] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method in self._observed:
            return self._observed[method] or await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: nothing to keep
        self._observed[method] = self._observe(handler, method)
        return self._observed[method] or handler

    def _observe(self, handler, method: str) -> grpc.RpcMethodHandler | None:
        if handler.unary_unary is None:
            return None  # streams (reflection) pass through uncounted
        inner, service = handler.unary_unary, self._service

        async def observed(request, context):
            started = time.perf_counter()
            try:
                return await inner(request, context)
            finally:
                code = context.code() or grpc.StatusCode.OK
                metrics.GRPC_REQUESTS.labels(service, method, code.name).inc()
                metrics.GRPC_SECONDS.labels(service, method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
