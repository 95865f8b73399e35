"""JSON-lines logging with the stdlib: one object per line, request id and actor from the request context.

``configure_logging`` is called once by the serving code (never by library modules, never at import). It installs
one handler on the root logger with the request-context and redaction filters, routes uvicorn's loggers through it,
and silences uvicorn's own access log (it writes the query string; ours does not, see ``middleware``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from facade.logs.context import current_request
from facade.logs.redaction import RedactionFilter, redact, redact_value

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "actor",
}
_HANDLER_MARK = "_facade_handler"


class RequestContextFilter(logging.Filter):
    """Copies the current request id and actor onto the record (so queued or text handlers see them too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_request()
        if not hasattr(record, "request_id"):
            record.request_id = ctx.request_id if ctx else None
        if not hasattr(record, "actor"):
            record.actor = ctx.actor if ctx else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, actor, extra fields, exc.

    Every string is redacted again here, so this formatter is safe even on a handler without ``RedactionFilter``.
    """

    def format(self, record: logging.LogRecord) -> str:
        ctx = current_request()
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or (ctx.request_id if ctx else None)
        actor = getattr(record, "actor", None) or (ctx.actor if ctx else None)
        if request_id:
            out["request_id"] = request_id
        if actor:
            out["actor"] = actor
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(redact_value(out), ensure_ascii=False, default=lambda v: redact(str(v)))


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(
    *,
    level: str | int = "INFO",
    fmt: Literal["json", "text"] = "json",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install (or replace) the facade's handler on the root logger; returns it. Idempotent."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RequestContextFilter())
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    # signxml's DEBUG lines dump whole canonicalized XML (the VIHF, which carries the INS): never below INFO
    logging.getLogger("signxml").setLevel(max(logging.INFO, root.getEffectiveLevel()))
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True  # replaced by facade.access (no query string, request id, actor)
    return handler
