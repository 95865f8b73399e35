"""Structured, redacted logs: JSON lines, a request id per request (contextvars), an access line per request, and a
redaction filter as a safety net. By design the facade never logs bodies, names, INS, keys, passwords or VIHFs."""

from facade.logs.context import RequestContext, bind_request, current_request
from facade.logs.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from facade.logs.redaction import RedactionFilter, redact
from facade.logs.setup import JsonFormatter, RequestContextFilter, configure_logging

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "RedactionFilter",
    "RequestContext",
    "RequestContextFilter",
    "RequestContextMiddleware",
    "bind_request",
    "configure_logging",
    "current_request",
    "redact",
]
