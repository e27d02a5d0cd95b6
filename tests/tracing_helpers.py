"""One OpenTelemetry SDK tracer provider for the test process (the global provider can be
set once), exporting to memory."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(PROVIDER)


def spans() -> list[ReadableSpan]:
    """The spans ended so far."""
    return list(EXPORTER.get_finished_spans())


def named(name: str) -> list[ReadableSpan]:
    return [s for s in spans() if s.name == name]
