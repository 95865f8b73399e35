"""A budget of request-body bytes in flight across the concurrent requests of one process (issue 14 item 4).

Each request body costs several times its size while it is parsed, mapped and rendered (a 19 MB invalid bundle
cost ≈ 213 MB; twelve at once took the host from 2.0 to 4.6 GB). The per-request limit (``max_body_bytes``, 413) does
not bound a burst; this budget does: a request holds its body's bytes from the moment it is admitted until its answer
is written, and a request that would take the total past ``limit`` is answered 503 with ``Retry-After`` and an
OperationOutcome (``server-busy``), before its body is read when it declares a Content-Length (then the connection is
closed, so the client stops sending), or as soon as its chunks pass the budget otherwise.

When the last request in flight finishes after large bodies, the freed heap is handed back to the system
(``malloc_trim``, glibc): without it the peak stayed resident (1.9 GB after the burst above). The mmap threshold is
also pinned at glibc's initial 128 KiB: glibc otherwise raises it to the size of each large block freed (up to 32 MB),
so the next multi-megabyte strings of a large PDF come from the heap, whose holes the following ones cannot all
reuse: peak RSS of a 10 MB PDF +50 MB instead of +36 MB during the conversion (bench/issue12.py, memory).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facade.api.outcomes import outcome_response
from facade.errors import FacadeError, Issue, Problem

log = logging.getLogger("facade.api")
RETRY_AFTER_SECONDS = 2


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value: blocks from this size are mmapped, and unmapped when freed


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def _malloc_trim() -> Callable[[], object] | None:
    trim = getattr(_libc(), "malloc_trim", None)
    return (lambda: trim(0)) if trim is not None else None


def pin_mmap_threshold() -> bool:
    """Large blocks always mmapped (see the module docstring); False where the C library has no ``mallopt``."""
    mallopt = getattr(_libc(), "mallopt", None)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) if mallopt is not None else False


class BytesInFlight:
    """The shared count (event-loop only: no lock needed, every change happens between awaits)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.requests = 0
        self.freed_since_trim = 0

    def take(self, size: int) -> bool:
        if size and self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give_back(self, size: int) -> None:
        self.used -= size
        self.freed_since_trim += size


class InFlightBudgetMiddleware:
    """Pure ASGI middleware; ``max_body_bytes`` requests larger than that are left to the 413 of ``api.body``."""

    def __init__(self, app: ASGIApp, *, limit: int, max_body_bytes: int, trim_after: int | None = None) -> None:
        self.app = app
        self.budget = BytesInFlight(max(limit, max_body_bytes))  # one largest request always fits
        self.max_body_bytes = max_body_bytes
        self.trim_after = trim_after if trim_after is not None else max_body_bytes
        self._trim = _malloc_trim()
        pin_mmap_threshold()  # process-wide, like the trim: this middleware is where large bodies are admitted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        held = declared if declared is not None and declared <= self.max_body_bytes else 0
        if not self.budget.take(held):
            await self._busy(scope, receive, send, wanted=held)
            return
        tripped: list[int] = []

        async def counted_receive() -> Message:
            nonlocal held
            message = await receive()
            if declared is None and message["type"] == "http.request":
                size = len(message.get("body", b""))
                if not self.budget.take(size):  # chunked: counted as it arrives
                    tripped.append(size)
                    issue = Issue(Problem.SERVER_BUSY, details=self._details(size))
                    raise FacadeError(Problem.SERVER_BUSY, issues=[issue])
                held += size
            return message

        async def send_with_retry_after(message: Message) -> None:
            if tripped and message["type"] == "http.response.start":
                retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
                headers = [*message.get("headers", ()), retry, (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        self.budget.requests += 1
        try:
            await self.app(scope, counted_receive, send_with_retry_after)
        finally:
            self.budget.requests -= 1
            self.budget.give_back(held)
            await self._maybe_trim()

    def _details(self, wanted: int) -> dict[str, Any]:
        budget = self.budget
        return {"wanted": wanted, "in_flight": budget.used, "limit": budget.limit, "retry": RETRY_AFTER_SECONDS}

    async def _busy(self, scope: Scope, receive: Receive, send: Send, *, wanted: int) -> None:
        log.warning("bytes in flight over budget: %d + %d > %d", self.budget.used, wanted, self.budget.limit)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}  # closing stops the upload
        response = outcome_response(503, [Issue(Problem.SERVER_BUSY, details=self._details(wanted))], headers)
        await response(scope, receive, send)

    async def _maybe_trim(self) -> None:
        if self._trim is None or self.budget.requests or self.budget.freed_since_trim < self.trim_after:
            return
        self.budget.freed_since_trim = 0
        await asyncio.get_running_loop().run_in_executor(None, self._trim)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None  # api.body answers it (400)
    return None


__all__ = ["RETRY_AFTER_SECONDS", "BytesInFlight", "InFlightBudgetMiddleware"]
