"""Replacement as PDSm writes it, resolved from the facade's document registry (issue 10; spec digest §4).

A DPI names the replaced document X the ways PDSm allows: ``relatesTo.target.reference = DocumentReference/<id>``
(our id scheme: the entryUUID's UUID) or a logical reference whose ``identifier`` is X's uniqueId
(``urn:oid:...``, the masterIdentifier) or entryUUID (``urn:uuid:...``). The facade sent X: it knows X's
entryUUID, setId and version. ``complete_replacements`` writes them into the request, in the forms the mapping
reads (``facade.mapping.versioning``): the target becomes ``DocumentReference/<uuid>`` + ``urn:oid:<uniqueId>``,
the set-id identifier and the version-number extension (X's + 1) are added when the client gave none. What the
client wrote wins; a document the facade never saw keeps the explicit route (set-id identifier + entryUUID).

Pure: the registry is a ``lookup`` function; the caller parses and re-serialises.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from facade.errors import Problem, RequestError
from facade.mapping.versioning import EXT_VERSION_NUMBER, IDENTIFIER_TYPE_SYSTEM, SET_ID_TYPE, UUID
from facade.model.identifiers import oid_from_urn


class KnownDocument(Protocol):
    """What the registry knows of a document the facade sent."""

    @property
    def unique_id(self) -> str: ...

    @property
    def entry_uuid(self) -> str: ...

    @property
    def set_id(self) -> str: ...

    @property
    def version(self) -> int: ...


# lookup(entry_uuid=..., unique_id=...) -> the registry's document, or None
Lookup = Callable[..., KnownDocument | None]


def completed_request(body: bytes, lookup: Lookup) -> bytes:
    """``body`` with its replacements completed from the registry (``complete_replacements``), or ``body`` itself
    when it names none (or is not JSON: the converter says why). Decimals keep their exact text (``1.50`` stays
    ``1.50``: a FHIR decimal's precision is part of its value), carried through as strings marked with a nonce
    the client cannot guess (so no string of the request can turn into a number)."""
    if b'"relatesTo"' not in body and b'"PATCH"' not in body:
        return body
    mark = secrets.token_hex(8)
    try:
        raw = json.loads(body.decode("utf-8"), parse_float=lambda text: f"\x00{mark}{text}\x00")
    except (ValueError, RecursionError):  # UnicodeDecodeError included: the converter refuses what is not UTF-8
        return body
    if not complete_replacements(raw, lookup):
        return body
    number = re.compile(rf'"\\u0000{mark}([-+0-9.eE]+)\\u0000"')
    return number.sub(r"\1", json.dumps(raw)).encode()


def document_references(raw: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(FHIRPath, resource) of every DocumentReference of an ITI-65 Bundle or an ITI-105 body."""
    if not isinstance(raw, dict):
        return
    if raw.get("resourceType") == "DocumentReference":
        yield "DocumentReference", raw
    elif raw.get("resourceType") == "Bundle":
        for i, entry in enumerate(raw.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "DocumentReference":
                yield f"Bundle.entry[{i}].resource", resource


def complete_replacements(raw: Any, lookup: Lookup) -> bool:
    """Complete, in place, every ``relatesTo[code=replaces]`` naming a document of the registry; True when the
    request changed. Raises RequestError when the target names none and the client did not give the explicit
    route (REPLACED_NOT_FOUND for our own id, REPLACED_UNKNOWN for a logical identifier)."""
    local_ids = _local_ids(raw)
    changed = False
    for path, doc in document_references(raw):
        for k, rel in enumerate(doc.get("relatesTo") or []):
            if not isinstance(rel, dict) or rel.get("code") != "replaces" or not isinstance(rel.get("target"), dict):
                continue
            target: dict[str, Any] = rel["target"]
            ref = target.get("reference")
            if isinstance(ref, str) and (ref.startswith("#") or ref in local_ids):
                continue  # the replaced DocumentReference is in the request: the mapping reads it
            known = _find(target, lookup, f"{path}.relatesTo[{k}].target", explicit=_has_set_id(doc))
            if known is not None:
                _complete(doc, target, known)
                changed = True
    check_patch_entries(raw)
    return changed


def check_patch_entries(raw: Any) -> None:
    """PDSm-for-DMP's replacement PATCH entry (``status`` -> ``superseded``) must name a document this transaction
    replaces (by our id, its uniqueId or entryUUID, or a conditional ``?identifier=``): it is not sent on its own,
    the DMP deprecates the document when it registers the RPLC (spec digest §4)."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        return
    replaced = _replaced_names(raw)
    for i, entry in enumerate(raw.get("entry") or []):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or request.get("method") != "PATCH":
            continue
        url = str(request.get("url") or "")
        if _patch_target(url) not in replaced:
            raise RequestError(
                Problem.INVALID_VALUE,
                expression=f"Bundle.entry[{i}].request.url",
                element=f"Bundle.entry[{i}] (PATCH {url})",
                reason="the replacement PATCH must name the document this transaction replaces (relatesTo.target)",
            )


def _patch_target(url: str) -> str:
    """``DocumentReference/<id>`` or ``DocumentReference?identifier=[system|]<value>`` -> the name compared."""
    if url.startswith("DocumentReference/"):
        return _name(url.split("/", 1)[1])
    if url.startswith("DocumentReference?identifier="):
        return _name(url.split("=", 1)[1].rsplit("|", 1)[-1])
    return ""


def _name(value: str) -> str:
    """A document name in one form: a lower-case UUID, or a bare OID."""
    value = value.strip()
    if value.lower().startswith("urn:uuid:"):
        value = value[9:]
    if UUID.match(value):
        return value.lower()
    return oid_from_urn(value) or value


def _replaced_names(raw: Any) -> set[str]:
    names: set[str] = set()
    for _, doc in document_references(raw):
        for rel in doc.get("relatesTo") or []:
            target = rel.get("target") if isinstance(rel, dict) and rel.get("code") == "replaces" else None
            if not isinstance(target, dict):
                continue
            ref = target.get("reference")
            if isinstance(ref, str):
                names.add(_name(ref.rsplit("/", 1)[-1]))
            identifier = target.get("identifier")
            if isinstance(identifier, dict) and identifier.get("value"):
                names.add(_name(str(identifier["value"])))
    return names


def _find(target: dict[str, Any], lookup: Lookup, expr: str, *, explicit: bool) -> KnownDocument | None:
    ref = target.get("reference")
    identifier = target.get("identifier")
    value = str(identifier.get("value") or "").strip() if isinstance(identifier, dict) else ""
    if isinstance(ref, str) and ref.startswith("DocumentReference/"):
        rid = ref.split("/", 1)[1]
        known = lookup(entry_uuid=f"urn:uuid:{rid.lower()}") if UUID.match(rid) else None
        if known is None and oid_from_urn(rid) is not None:
            known = lookup(unique_id=oid_from_urn(rid))
        if known is not None or explicit:
            return known
        if not value:
            raise RequestError(Problem.REPLACED_NOT_FOUND, expression=f"{expr}.reference", reference=ref)
    if not value:
        return None  # nothing to resolve: the mapping reports what is missing
    if value.lower().startswith("urn:uuid:") and UUID.match(value[9:]):
        known = lookup(entry_uuid="urn:uuid:" + value[9:].lower())
    else:
        oid = oid_from_urn(value)
        known = lookup(unique_id=oid) if oid is not None else None
    if known is None and not explicit:
        raise RequestError(Problem.REPLACED_UNKNOWN, expression=f"{expr}.identifier", identifier=value)
    return known


def _complete(doc: dict[str, Any], target: dict[str, Any], known: KnownDocument) -> None:
    target["reference"] = f"DocumentReference/{known.entry_uuid.removeprefix('urn:uuid:')}"
    target["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{known.unique_id}"}
    if not _has_set_id(doc) and known.set_id:  # "" : a document the DMP knows but the facade did not send
        doc.setdefault("identifier", []).append(
            {
                "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": SET_ID_TYPE}]},
                "value": f"urn:oid:{known.set_id}",
            }
        )
    if known.version and not any(
        isinstance(e, dict) and e.get("url") == EXT_VERSION_NUMBER for e in doc.get("extension") or []
    ):
        doc.setdefault("extension", []).append({"url": EXT_VERSION_NUMBER, "valuePositiveInt": known.version + 1})


def _has_set_id(doc: dict[str, Any]) -> bool:
    for ident in doc.get("identifier") or []:
        codings = ((ident or {}).get("type") or {}).get("coding") or [] if isinstance(ident, dict) else []
        if any(isinstance(c, dict) and c.get("system") == IDENTIFIER_TYPE_SYSTEM and c.get("code") == SET_ID_TYPE
               for c in codings):  # fmt: skip
            return True
    return False


def _local_ids(raw: Any) -> set[str]:
    """References that resolve inside a Bundle (fullUrls and Type/id of its resources)."""
    out: set[str] = set()
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        return out
    for entry in raw.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("fullUrl"), str):
            out.add(entry["fullUrl"])
        resource = entry.get("resource")
        if isinstance(resource, dict) and isinstance(resource.get("id"), str):
            out.add(f"{resource.get('resourceType')}/{resource['id']}")
    return out


__all__ = [
    "KnownDocument",
    "Lookup",
    "check_patch_entries",
    "complete_replacements",
    "completed_request",
    "document_references",
]
