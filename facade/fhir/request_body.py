"""A request body with one owner, handed from the HTTP layer to the parser, which drops the bytes once decoded.

A large request (13 MB of JSON for a 10 MiB PDF) was kept whole by every frame it went through (route, submission
service, converter) until the submission was stored, on top of its text, its dict and the CDA built from it. The
route, the service and the converter now pass this owner on; ``parse_request`` takes the bytes out of it and lets
them go as soon as they are decoded. The one fact read from the body afterwards (the document type it declares, for
the audit of a refusal) is kept here, small.
"""

from __future__ import annotations

import json
from typing import Any


class RequestBody:
    """The bytes of one request until the parser takes them (``data`` then raises); ``size`` stays."""

    __slots__ = ("_data", "declared_type", "size")

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data
        self.size = len(data)
        self.declared_type: str | None = None  # set by the parser, from what it parsed (``declared_type_of``)

    @classmethod
    def of(cls, body: bytes | RequestBody) -> RequestBody:
        return body if isinstance(body, RequestBody) else cls(body)

    @property
    def data(self) -> bytes:
        if self._data is None:
            raise RuntimeError("the request body was handed to the parser and dropped")
        return self._data

    @property
    def taken(self) -> bool:
        return self._data is None

    def replace(self, data: bytes) -> None:
        """The request as completed before parsing (e.g. its replacements resolved): the old bytes are let go."""
        self._data = data
        self.size = len(data)

    def take(self) -> bytes:
        """The bytes, for the one reader that drops them: this owner no longer holds them."""
        data = self.data
        self._data = None
        return data

    def document_type(self) -> str:
        """The first DocumentReference.type.coding code the body declares, or "" (unparseable, absent)."""
        if self.declared_type is not None:
            return self.declared_type
        if self._data is None:  # taken by a reader that recorded nothing: the audit of a refusal must still be written
            return ""
        return declared_type(self._data)


def declared_type(body: bytes | str) -> str:
    """The first DocumentReference.type.coding code of a FHIR JSON body, or "" (unparseable, absent)."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    return declared_type_of(data)


def declared_type_of(data: Any) -> str:
    """``declared_type`` of a body already parsed."""
    entries = data.get("entry") if isinstance(data, dict) else None
    resources = [data]
    if isinstance(entries, list):
        resources += [e.get("resource") for e in entries if isinstance(e, dict)]
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("resourceType") != "DocumentReference":
            continue
        doc_type = resource.get("type")
        codings = doc_type.get("coding") if isinstance(doc_type, dict) else None
        for coding in codings if isinstance(codings, list) else ():
            code = coding.get("code") if isinstance(coding, dict) else None
            if isinstance(code, str):
                return code[:64]
    return ""


__all__ = ["RequestBody", "declared_type", "declared_type_of"]
