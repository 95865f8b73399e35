"""Resolve FHIR references inside one request (no server look-ups: the bundle is the whole world).

Supported forms (FHIR R4 §2.36 "Resolving references in Bundles", MHD/PDSm practice):

* ``#id`` -> a resource contained in the *container* (the top-level resource), ``#`` -> the container itself;
* ``urn:uuid:...`` / ``urn:oid:...`` / absolute ``http(s)://.../Type/id`` -> the entry with that ``fullUrl``;
* relative ``Type/id`` (optionally ``/_history/n``) -> the entry whose fullUrl is ``<base of the referencing
  entry>/Type/id``, else the single entry of that type with that ``id``;
* conditional ``Type?identifier=system|value`` -> the single entry of that type carrying that identifier (PDSm
  examples use it for the Patient). Several matches are ambiguous and do not resolve.

A reference that does not resolve returns None: the caller reports UNRESOLVED_REFERENCE at its expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from facade.fhir.parse import JsonObject, ParsedEntry, ParsedRequest

_RELATIVE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]+)?$")
_RELATIVE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_ABSOLUTE = re.compile(r"^(?P<base>https?://.+)/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.+)?$")


@dataclass(frozen=True)
class Resolved:
    """A reference target: the resource JSON, its FHIRPath and the entry it lives in (its container)."""

    raw: JsonObject
    path: str
    entry: ParsedEntry  # the top-level entry (the container, for contained resources)
    contained: bool = False

    @property
    def resource_type(self) -> str:
        return str(self.raw.get("resourceType", ""))


class ReferenceResolver:
    """Indexes the request's entries once; ``resolve`` is then a dictionary look-up."""

    def __init__(self, parsed: ParsedRequest) -> None:
        self._entries = parsed.entries
        self._by_full_url: dict[str, ParsedEntry] = {}
        for entry in parsed.entries:
            if entry.full_url:
                self._by_full_url.setdefault(entry.full_url, entry)

    @property
    def entries(self) -> tuple[ParsedEntry, ...]:
        return self._entries

    def of_type(self, resource_type: str) -> list[Resolved]:
        """Every top-level entry of this type, in request order."""
        return [self._top(e) for e in self._entries if e.resource_type == resource_type]

    def resolve(self, reference: Any, container: ParsedEntry) -> Resolved | None:
        """Resolve a Reference JSON object (``{"reference": ...}``) written inside ``container``."""
        if not isinstance(reference, dict):
            return None
        ref = reference.get("reference")
        if not isinstance(ref, str) or not ref:
            return None
        return self.resolve_string(ref.strip(), container)

    def resolve_string(self, ref: str, container: ParsedEntry) -> Resolved | None:
        if ref.startswith("#"):
            return self._contained(ref[1:], container)
        if "?" in ref:
            return self._conditional(ref)
        if ref in self._by_full_url:
            return self._top(self._by_full_url[ref])
        match = _RELATIVE.match(ref)
        if match:
            return self._relative(match.group("type"), match.group("id"), container)
        match = _ABSOLUTE.match(ref)
        if match:  # absolute URL not used as a fullUrl: same Type/id written relative to it
            return self._by_url(ref.split("/_history/", 1)[0])
        return None

    def resolve_url(self, url: str, container: ParsedEntry) -> Resolved | None:
        """``attachment.url`` of a Binary: a fullUrl, ``Binary/id`` or an absolute URL."""
        return self.resolve_string(url.strip(), container)

    @staticmethod
    def _top(entry: ParsedEntry) -> Resolved:
        return Resolved(entry.raw, entry.path, entry)

    def _by_url(self, url: str) -> Resolved | None:
        entry = self._by_full_url.get(url)
        return self._top(entry) if entry else None

    @staticmethod
    def _contained(local_id: str, container: ParsedEntry) -> Resolved | None:
        if local_id == "":
            return Resolved(container.raw, container.path, container)
        for i, item in enumerate(container.raw.get("contained") or []):
            if isinstance(item, dict) and item.get("id") == local_id:
                return Resolved(item, f"{container.path}.contained[{i}]", container, contained=True)
        return None

    def _relative(self, resource_type: str, resource_id: str, container: ParsedEntry) -> Resolved | None:
        base = _base_of(container.full_url)
        if base:
            hit = self._by_url(f"{base}/{resource_type}/{resource_id}")
            if hit:
                return hit
        # urn:uuid fullUrls carry no base: match on type + id (a single match only)
        matches = [e for e in self._entries if e.resource_type == resource_type and e.id == resource_id]
        if len(matches) == 1:
            return self._top(matches[0])
        for url, entry in self._by_full_url.items():
            if url.endswith(f"/{resource_type}/{resource_id}") and entry.resource_type == resource_type:
                return self._top(entry)
        return None

    def _conditional(self, ref: str) -> Resolved | None:
        resource_type, _, query = ref.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        wanted = params.get("identifier")
        if not wanted or len(params) != 1 or len(wanted) != 1:
            return None  # only the identifier search is supported (what PDSm uses)
        token = unquote(wanted[0])
        system, sep, value = token.rpartition("|")
        if not sep:
            system, value = "", token
        matches = [
            e
            for e in self._entries
            if e.resource_type == resource_type and _has_identifier(e.raw, system if sep else None, value)
        ]
        return self._top(matches[0]) if len(matches) == 1 else None


def conditional_identifier(ref: str) -> tuple[str, str, str] | None:
    """(resource type, system, value) of a conditional ``Type?identifier=system|value`` reference, else None."""
    resource_type, sep, query = ref.strip().partition("?")
    if not sep or not _RELATIVE_TYPE.match(resource_type):
        return None
    params = parse_qs(query, keep_blank_values=True)
    wanted = params.get("identifier")
    if not wanted or len(params) != 1 or len(wanted) != 1:
        return None
    system, _, value = unquote(wanted[0]).rpartition("|")
    return resource_type, system, value


def _has_identifier(raw: JsonObject, system: str | None, value: str) -> bool:
    for ident in raw.get("identifier") or []:
        if not isinstance(ident, dict) or ident.get("value") != value:
            continue
        if system is None or (ident.get("system") or "") == system:
            return True
    return False


def _base_of(full_url: str | None) -> str | None:
    if not full_url:
        return None
    match = _ABSOLUTE.match(full_url)
    return match.group("base") if match else None


__all__ = ["ReferenceResolver", "Resolved", "conditional_identifier"]
