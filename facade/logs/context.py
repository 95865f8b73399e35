"""The request being served, in a ContextVar: every log line of that request carries its id and actor.

A ContextVar (not a thread-local) because requests interleave on one event loop; starlette's ``run_in_threadpool``
copies the context into worker threads, so lines logged by the pipeline in a thread carry the id too. The context
object is mutable so that the auth layer, deeper in the ASGI stack, can fill in the actor once it is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestContext:
    request_id: str
    actor: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("facade_request", default=None)


def current_request() -> RequestContext | None:
    return _current.get()


@contextmanager
def bind_request(ctx: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
