"""Request id + access log, as a pure ASGI middleware (outermost of the facade's own middlewares).

* The request id is the client's ``X-Request-ID`` when it is a short token of safe characters (so it cannot inject
  log lines or smuggle data), else a new UUID; it is echoed in the response header and bound to the request context
  for every log line of the request.
* The W3C ``traceparent`` (``facade.logs.trace``): a valid one makes this request a child span of the caller's
  trace; a missing or malformed one starts a new trace. Its trace id is in every log line of the request; the
  request's own ``traceparent`` is answered in ``traceresponse`` (Trace Context Level 2) so a caller that sent none
  learns the trace id.
* One access line per request: method, path (never the query string: it may carry identifiers), status, duration,
  actor, request id. Bodies are never read here.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facade.logs.context import RequestContext, bind_request
from facade.logs.trace import HEADER as TRACEPARENT_HEADER
from facade.logs.trace import server_span

TRACERESPONSE_HEADER = "traceresponse"

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_MAX_PATH = 256


def new_request_id() -> str:
    # dashed UUID: no run of 13+ digits, so the INS redaction never mangles an id
    return str(uuid.uuid4())


def accepted_request_id(raw: bytes | None) -> str | None:
    if not raw:
        return None
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return value if _SAFE_REQUEST_ID.fullmatch(value) else None


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        trust_request_id: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.trust_request_id = trust_request_id
        self.log = logger or logging.getLogger("facade.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        request_headers = dict(scope.get("headers") or ())
        if self.trust_request_id:
            incoming = accepted_request_id(request_headers.get(REQUEST_ID_HEADER.encode()))
        parents = [v for k, v in scope.get("headers") or () if k == TRACEPARENT_HEADER.encode()]
        trace, _ = server_span(parents[0] if len(parents) == 1 else None)  # two traceparents: neither is trusted
        ctx = RequestContext(incoming or new_request_id(), trace=trace)
        status: list[int] = []
        added = [
            (REQUEST_ID_HEADER.encode(), ctx.request_id.encode()),
            (TRACERESPONSE_HEADER.encode(), trace.traceparent.encode()),
        ]
        names = {name for name, _ in added}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in names]
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        started = time.perf_counter()
        with bind_request(ctx):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                # the 500 answer is written by the server-error handler, outside this middleware
                self._access(scope, ctx, 500, started, error=type(exc).__name__)
                raise
            self._access(scope, ctx, status[0] if status else 0, started)

    def _access(self, scope: Scope, ctx: RequestContext, status: int, started: float, **more: Any) -> None:
        if not self.access_log:
            return
        method = scope.get("method", "")
        path = str(scope.get("path", ""))[:_MAX_PATH]
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        client = scope.get("client")
        self.log.info(
            "%s %s %s %.1fms",
            method,
            path,
            status,
            duration_ms,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client": client[0] if client else None,
                "request_id": ctx.request_id,
                "trace_id": ctx.trace_id,
                "actor": ctx.actor,
                **more,
            },
        )
