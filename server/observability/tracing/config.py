"""Tracing configuration: service names, where spans go, and how traces are sampled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from server.settings import Settings

Process = Literal["api", "worker", "scheduler"]

# Ports of the retired Jaeger agent (UDP Thrift compact/binary, and the old zipkin one).
_LEGACY_JAEGER_AGENT_PORTS = frozenset({5775, 6831, 6832})
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318


@dataclass(frozen=True)
class ExporterTarget:
    """Where spans go: ``protocol`` is ``grpc`` or ``http`` (OTLP) or ``console``."""

    protocol: Literal["grpc", "http", "console"]
    endpoint: str = ""


def service_name_for(settings: Settings, process: Process = "api") -> str:
    """The service name a process reports: ``TRACING_SERVICE_NAME`` for the API; the worker
    and scheduler swap its ``-api`` suffix (``edustream-worker``, ``edustream-scheduler``)."""
    base = settings.tracing_service_name
    if process == "api":
        return base
    return f"{base.removesuffix('-api')}-{process}"


def _otlp_target(url: str) -> ExporterTarget:
    """OTLP/HTTP when the URL names port 4318 or a path (``…/v1/traces``); gRPC otherwise."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path or parts.port == OTLP_HTTP_PORT:
        if not path.endswith("/v1/traces"):
            path = f"{path}/v1/traces"
        return ExporterTarget("http", f"{parts.scheme}://{parts.netloc}{path}")
    return ExporterTarget("grpc", f"{parts.scheme}://{parts.netloc}")


def exporter_target(settings: Settings) -> ExporterTarget:
    """Resolve ``TRACING_EXPORTER`` to a concrete destination.

    * ``console``: spans printed on stdout.
    * ``otlp``: ``OTLP_ENDPOINT`` (gRPC, or OTLP/HTTP for port 4318 or a URL with a path).
    * ``jaeger``: OTLP to ``JAEGER_AGENT_HOST`` (Jaeger ingests OTLP natively since 1.35;
      the Thrift agent is retired). ``JAEGER_AGENT_PORT`` at its legacy default (6831, or
      the other old agent ports 5775/6832) means Jaeger's OTLP gRPC port 4317; any other
      value is taken as the OTLP port on that host: 4318 speaks OTLP/HTTP, anything else gRPC
      (a remapped 4317).
    """
    if settings.tracing_exporter == "console":
        return ExporterTarget("console")
    if settings.tracing_exporter == "otlp":
        return _otlp_target(settings.otlp_endpoint)
    host, port = settings.jaeger_agent_host, settings.jaeger_agent_port
    if port in _LEGACY_JAEGER_AGENT_PORTS:
        port = OTLP_GRPC_PORT
    if port == OTLP_HTTP_PORT:
        return ExporterTarget("http", f"http://{host}:{port}/v1/traces")
    return ExporterTarget("grpc", f"http://{host}:{port}")


def build_exporter(target: ExporterTarget) -> SpanExporter:
    """The span exporter for ``target``.

    The OTLP exporters are imported here, not at the top: only the configured one is loaded
    (the gRPC one pulls in ``grpcio``, slow to import and unused by most processes)."""
    if target.protocol == "console":
        return ConsoleSpanExporter()
    if target.protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(endpoint=target.endpoint, timeout=10)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=target.endpoint, insecure=not target.endpoint.startswith("https://"), timeout=10)


class _NoOrphanClientSpans(Sampler):
    """Root sampler: ``TraceIdRatioBased(rate)``, except that a *client* span with no parent
    (a worker's broker poll, a pool ping at start-up: database or Redis chatter outside any
    request or task) never starts a trace of its own. Inside a sampled trace they are kept."""

    def __init__(self, rate: float) -> None:
        self._ratio = TraceIdRatioBased(rate)

    def should_sample(self, parent_context: otel_context.Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state: trace.TraceState | None = None,
                      ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NoOrphanClientSpans{{{self._ratio.get_description()}}}"


def make_sampler(rate: float) -> Sampler:
    """``ParentBased(root=TraceIdRatioBased(rate))``: a trace is kept or dropped as a whole,
    decided once at its root (the request or task that started it)."""
    return ParentBased(root=_NoOrphanClientSpans(min(max(rate, 0.0), 1.0)))
