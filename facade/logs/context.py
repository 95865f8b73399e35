"""The request being served, in a ContextVar: every log line of that request carries its id, trace id and actor.

A ContextVar (not a thread-local) because requests interleave on one event loop; starlette's ``run_in_threadpool``
copies the context into worker threads, so lines logged by the pipeline in a thread carry the id too. The context
object is mutable so that the auth layer, deeper in the ASGI stack, can fill in the actor once it is known. A relay
thread delivering a stored submission binds the submission's own request id and trace (``bind_request`` with
``replace=False`` keeps the context of a request already being served, e.g. the inline attempt).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from facade.logs.trace import TraceContext


@dataclass
class RequestContext:
    request_id: str
    actor: str | None = None
    trace: TraceContext | None = None  # W3C trace context of this request (its own span)

    @property
    def trace_id(self) -> str | None:
        return self.trace.trace_id if self.trace else None

    @property
    def traceparent(self) -> str | None:
        return self.trace.traceparent if self.trace else None


_current: ContextVar[RequestContext | None] = ContextVar("facade_request", default=None)


def current_request() -> RequestContext | None:
    return _current.get()


@contextmanager
def bind_request(ctx: RequestContext, *, replace: bool = True) -> Iterator[RequestContext]:
    existing = _current.get()
    if existing is not None and not replace:
        yield existing
        return
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
