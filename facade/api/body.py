"""Reading request bodies safely: content type negotiation and a hard size limit (413 before parsing).

A client that disconnects mid-body is a client abort (499 in the access line, one info line, no traceback), not a
server error: nobody is left to read the answer.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request
from starlette.requests import ClientDisconnect

from facade.errors import BundleParseError, FacadeError, Problem
from facade.settings import InputConfig

log = logging.getLogger("facade.api")
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def check_content_type(request: Request) -> None:
    raw = request.headers.get("content-type", "")
    media = raw.split(";", 1)[0].strip().lower()
    if media and media not in JSON_TYPES:
        raise FacadeError(
            Problem.UNSUPPORTED_MEDIA_TYPE, content_type=media, accepted="application/fhir+json (FHIR R4 JSON)"
        )


async def read_limited_body(request: Request, limit: int, timeout: float = 30.0) -> bytes:
    """The whole body within ``timeout`` seconds (408 otherwise) and at most ``limit`` bytes (413)."""
    try:
        return await asyncio.wait_for(_read(request, limit), timeout)
    except TimeoutError:
        raise FacadeError(Problem.REQUEST_TIMEOUT, seconds=timeout) from None


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BundleParseError(Problem.BODY_NOT_JSON, reason="invalid Content-Length") from None
        if size > limit:
            raise FacadeError(Problem.BODY_TOO_LARGE, size=size, limit=limit)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:  # chunked uploads have no Content-Length: count while reading
                raise FacadeError(Problem.BODY_TOO_LARGE, size=f"more than {limit}", limit=limit)
            chunks.append(chunk)
    except ClientDisconnect:
        log.info("client closed the connection mid-body after %d bytes", received)
        raise FacadeError(Problem.CLIENT_ABORTED, received=received) from None
    return b"".join(chunks)


async def read_fhir_body(request: Request, limits: InputConfig) -> bytes:
    """A FHIR JSON body: the content type first (415), then the body within the size and time limits."""
    check_content_type(request)
    return await read_limited_body(request, limits.max_body_bytes, limits.body_timeout_seconds)
