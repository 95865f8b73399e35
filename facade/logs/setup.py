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
    "trace_id",
    "actor",
}
_HANDLER_MARK = "_facade_handler"


class RequestContextFilter(logging.Filter):
    """Copies the current request id, trace id and actor onto the record (so queued or text handlers see them too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_request()
        if not hasattr(record, "request_id"):
            record.request_id = ctx.request_id if ctx else None
        if not hasattr(record, "trace_id"):
            record.trace_id = ctx.trace_id if ctx else None
        if not hasattr(record, "actor"):
            record.actor = ctx.actor if ctx else None
        return True


# Log injection (issue 14 item 10): a CR/LF in a URL forged a log line, NUL and ESC were written raw. Every control
# character (C0, DEL, C1) and the Unicode line/paragraph separators are escaped in both formats, so one record is
# always one line and no terminal escape reaches a console.
_CONTROL = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_TEXT_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROL} | {
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _CONTROL if c >= 0x7F}  # json.dumps escapes C0 itself
_DROPPED = frozenset({"color_message"})  # uvicorn's copy of the message with ANSI colour codes


def escape_controls(text: str) -> str:
    """Text for a text log line: control characters as visible escapes (``\\n``, ``\\x00``, ``\\x1b``...)."""
    return text.translate(_TEXT_ESCAPES)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, trace_id, actor, extra fields, exc.

    Strings are redacted here unless ``RedactionFilter`` already did it for this record, so this formatter is safe
    even on a handler without that filter.
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
        trace_id = getattr(record, "trace_id", None) or (ctx.trace_id if ctx else None)
        actor = getattr(record, "actor", None) or (ctx.actor if ctx else None)
        if request_id:
            out["request_id"] = request_id
        if trace_id:
            out["trace_id"] = trace_id
        if actor:
            out["actor"] = actor
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in out and key not in _DROPPED:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        if not getattr(record, "_facade_redacted", False):
            out = redact_value(out)
        line = json.dumps(out, ensure_ascii=False, default=lambda v: redact(str(v)))
        return line.translate(_JSON_ESCAPES)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger [request id] [trace id] message`` (the trace id when there is one), one line per record: a
    traceback is kept, its line breaks escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(_ids)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        trace_id = getattr(record, "trace_id", None)
        request_id = record.__dict__["request_id"]
        record._ids = f"{request_id}] [{trace_id}" if trace_id else request_id
        text = super().format(record)
        return escape_controls(text if getattr(record, "_facade_redacted", False) else redact(text))


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
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
        uv.disabled = False  # a dictConfig run earlier (uvicorn's default log config) may have switched it off
        uv.setLevel(logging.NOTSET)  # the root's level decides, as for every other logger
    # signxml's DEBUG lines dump whole canonicalized XML (the VIHF, which carries the INS): never below INFO
    logging.getLogger("signxml").setLevel(max(logging.INFO, root.getEffectiveLevel()))
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True  # replaced by facade.access (no query string, request id, actor)
    return handler
