"""The gRPC side: KServe v2 (`inference.GRPCInferenceService`) passed through as bytes, routed
per call (not per connection: one client channel's calls spread over the replicas). The
service a call names is read from field 1 of its message; ServerLive and ServerReady are
answered by the gateway itself. RESOURCE_EXHAUSTED or UNAVAILABLE from a replica sends the
call once more to another replica when there is one. A cancelled call cancels its
upstream call."""

from __future__ import annotations

import time

import grpc

from . import metrics, names
from .hold import Expired, Full, Hold
from .http_proxy import RETRY_AFTER, conflict, held_refusal
from .keys import KeyFile, over_limit
from .pool import Pools, Replica
from .weight import audio_seconds

SERVICE = "/inference.GRPCInferenceService/"
NAMED = {"ModelInfer", "ModelReady", "ModelMetadata"}
RETRY_CODES = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}
TRUE = b"\x08\x01"  # ServerLiveResponse / ServerReadyResponse {live|ready: true}
RPC_KEY_REQUIRED = "a valid API key is required: send metadata `authorization: Bearer <key>`"
MESSAGE_LIMIT = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class Refusal(Exception):
    """The gateway's own answer to a call: a status code and a message saying what to do."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class GrpcGateway(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, pools: Pools, keys: KeyFile | None = None, hold: Hold | None = None):
        self.pools = pools
        self.keys = keys
        self.hold = hold
        self._channels: dict[str, grpc.aio.Channel] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = details.method
        if not method.startswith(SERVICE):
            return None  # UNIMPLEMENTED
        name = method[len(SERVICE) :]

        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                return await self._call(method, name, request, context)
            except Refusal as refusal:
                if refusal.retry_after is not None:
                    context.set_trailing_metadata((("retry-after", str(refusal.retry_after)),))
                await context.abort(refusal.code, str(refusal))
                raise  # abort() raises; never reached

        return grpc.unary_unary_rpc_method_handler(call)

    def channel(self, replica: Replica) -> grpc.aio.Channel:
        target = replica.upstream.grpc
        assert target is not None
        if target not in self._channels:
            self._channels[target] = grpc.aio.insecure_channel(target, options=MESSAGE_LIMIT)
        return self._channels[target]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def _call(
        self, method: str, name: str, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        if name == "ServerLive":
            return TRUE
        if name == "ServerReady":
            return TRUE if any(r.ready for r in self.pools.replicas()) else b""
        key = None
        if self.keys is not None:
            metadata = dict(context.invocation_metadata() or ())
            key = self.keys.current().identify(metadata.get("authorization"))
            if key is None:
                metrics.REJECTED.labels("unauthorized", "").inc()
                raise Refusal(grpc.StatusCode.UNAUTHENTICATED, RPC_KEY_REQUIRED)
        served = self.pools.services()
        service = names.from_grpc_message(request) if name in NAMED else None
        if service is None:
            if len(served) != 1:
                raise Refusal(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the request names no model: set model_name to one of {served}",
                )
            service = served[0]
        if service in self.pools.conflicts:
            raise Refusal(
                grpc.StatusCode.FAILED_PRECONDITION,
                conflict(service, self.pools.conflicts[service]),
            )
        if service not in served:
            raise Refusal(
                grpc.StatusCode.NOT_FOUND, f"model {service!r} is not served here; served: {served}"
            )
        weight = audio_seconds(request)
        limited = over_limit(self.keys, key, weight) if key and self.keys else None
        if limited is not None:
            raise Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, limited[1], limited[0])
        metrics.IN_FLIGHT.labels(service).inc()
        try:
            answer = await self._forward(method, service, request, context, weight)
        except grpc.aio.AioRpcError as err:  # the replica's own answer, passed on
            metrics.REQUESTS.labels(service, "grpc", err.code().name).inc()
            raise Refusal(err.code(), err.details() or "") from err
        finally:
            metrics.IN_FLIGHT.labels(service).dec()
        metrics.REQUESTS.labels(service, "grpc", "OK").inc()
        return answer

    async def _forward(
        self,
        method: str,
        service: str,
        request: bytes,
        context: grpc.aio.ServicerContext,
        weight: float,
    ) -> bytes:
        metadata = tuple(
            (key, value)
            for key, value in context.invocation_metadata() or ()
            if not key.startswith(":") and key not in HOP_METADATA
        )
        tried: list[Replica] = []
        while True:
            replica = self.pools.pick(service, exclude=tried, where=has_grpc)
            if replica is None and not tried and self.hold is not None:
                try:  # a cancelled call stops waiting (and leaves the line)
                    await self.hold.until_ready(service, where=has_grpc)
                except (Full, Expired) as exc:
                    message = held_refusal(exc, self.hold, service)
                    raise Refusal(grpc.StatusCode.UNAVAILABLE, message, int(RETRY_AFTER)) from exc
                continue
            if replica is None:
                raise Refusal(
                    grpc.StatusCode.UNAVAILABLE,
                    f"no ready replica of {service!r} serves gRPC: retry in a few seconds",
                )
            tried.append(replica)
            with self.pools.lease(replica, weight):
                metrics.ROUTED.labels(service, replica.key).inc()
                started = time.perf_counter()
                try:
                    answer: bytes = await self.channel(replica).unary_unary(method)(
                        request, metadata=metadata, timeout=context.time_remaining()
                    )
                except grpc.aio.AioRpcError as err:
                    if err.code() == grpc.StatusCode.UNAVAILABLE:
                        replica.healthy = False  # until its health check says otherwise
                    again = self.pools.pick(service, exclude=tried, where=has_grpc)
                    if err.code() in RETRY_CODES and len(tried) == 1 and again is not None:
                        metrics.RETRIES.labels(service).inc()
                        continue
                    raise
                metrics.UPSTREAM_SECONDS.labels(service).observe(time.perf_counter() - started)
                return answer


def has_grpc(replica: Replica) -> bool:
    return replica.upstream.grpc is not None


# set by gRPC itself on the outgoing call
HOP_METADATA = {"user-agent", "content-type", "te", "grpc-accept-encoding", "grpc-encoding"}
