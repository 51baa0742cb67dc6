"""Local receivers on 127.0.0.1 for observability tests: a recording HTTP server (outbound
calls, OTLP/HTTP, Sentry's envelope endpoint) and an OTLP/gRPC trace collector."""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """A threaded HTTP server that records every request and answers 200 with ``reply``."""

    reply: bytes = b"{}"
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                encoding = (self.headers.get("content-encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":  # sentry-sdk prefers brotli whenever the module is importable
                    import brotli  # type: ignore[import-not-found,import-untyped,unused-ignore]

                    body = brotli.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                recorder.requests.append(Received(self.command, self.path,
                                                  {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(recorder.reply)))
                self.end_headers()
                self.wfile.write(recorder.reply)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, predicate: Callable[[list[Received]], bool], within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not predicate(self.requests):
            if time.monotonic() > deadline:
                raise AssertionError(f"not received within {within}s: {[r.path for r in self.requests]}")
            time.sleep(0.05)


@contextmanager
def recording_server(reply: bytes = b"{}") -> Iterator[RecordingServer]:
    server = RecordingServer(reply=reply).start()
    try:
        yield server
    finally:
        server.stop()


def exported_spans(requests: list[trace_service_pb2.ExportTraceServiceRequest]) -> list[dict[str, Any]]:
    """Flatten OTLP export requests into ``{service, name, trace_id, span_id, parent_id}`` dicts."""
    spans: list[dict[str, Any]] = []
    for request in requests:
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append({"service": attrs.get("service.name"), "name": span.name,
                                  "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                  "parent_id": span.parent_span_id.hex()})
    return spans


def parse_otlp_http(received: list[Received]) -> list[trace_service_pb2.ExportTraceServiceRequest]:
    out = []
    for r in received:
        if r.path == "/v1/traces":
            out.append(trace_service_pb2.ExportTraceServiceRequest.FromString(r.body))
    return out


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request: Any, context: Any) -> Any:  # the gRPC method name
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@contextmanager
def grpc_collector() -> Iterator[tuple[int, _Collector]]:
    """An OTLP/gRPC trace collector on 127.0.0.1; yields ``(port, collector)``."""
    collector = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port, collector
    finally:
        server.stop(grace=None)
