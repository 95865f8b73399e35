"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the ``traceparent`` header, read, checked, created.

``traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>``, lower case. A header that breaks the
rules (wrong length, upper case, all-zero ids, version ``ff``) is not repaired: the request gets a new trace, as the
recommendation says ("the vendor MUST create a new traceparent"). A higher version is read by its version-00 prefix.

The facade is one span per request (same trace id, new span id); every call it makes on behalf of that request
(the ITI-41 request to the DMP, inline or later from a relay thread) is a child span: same trace id, new span id,
the request's span as parent. Ids come from ``secrets`` (random, never derived from data).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

HEADER = "traceparent"
_V00 = re.compile(r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
NOT_SAMPLED = "00"  # a trace the facade starts: it records no spans itself (logs and audit carry the ids)


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # 32 lower-case hex digits, not all zero
    span_id: str  # 16 lower-case hex digits, not all zero: this span (the parent-id of the calls it makes)
    flags: str = NOT_SAMPLED  # kept from the caller: their sampling decision travels on

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """A new span of the same trace (an outbound call made on behalf of this span)."""
        return TraceContext(self.trace_id, new_span_id(), self.flags)


def new_span_id() -> str:
    while True:
        value = secrets.token_hex(8)
        if value != _ZERO_SPAN:
            return value


def new_trace() -> TraceContext:
    while True:
        trace = secrets.token_hex(16)
        if trace != _ZERO_TRACE:
            return TraceContext(trace, new_span_id())


def parse_traceparent(value: str | bytes | None) -> TraceContext | None:
    """The context a valid ``traceparent`` carries (its parent-id as ``span_id``), else None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    value = value.strip(" \t")
    match = _V00.match(value)
    if match is None:
        return None
    version = match["version"]
    if version == "ff" or (version == "00" and len(value) != 55):
        return None
    if version != "00" and len(value) > 55 and value[55] != "-":  # a later version may append fields after a dash
        return None
    if match["trace"] == _ZERO_TRACE or match["span"] == _ZERO_SPAN:
        return None
    return TraceContext(match["trace"], match["span"], match["flags"])


def server_span(incoming: str | bytes | None) -> tuple[TraceContext, bool]:
    """This request's span: a child of a valid incoming ``traceparent`` (same trace id, flags kept), else the root of
    a new trace. The boolean says whether the caller's header was accepted."""
    parent = parse_traceparent(incoming)
    if parent is None:
        return new_trace(), False
    return parent.child(), True


def trace_id_of(traceparent: str | None) -> str | None:
    parsed = parse_traceparent(traceparent)
    return parsed.trace_id if parsed else None
