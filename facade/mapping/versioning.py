"""Document identity and versions: the entryUUID, and setId / versionNumber / replacement (STRUCMIN, XDS RPLC;
spec digest §2.5), our documented rule.

* ``DocumentReference.identifier`` typed ``IDENTIFIER_TYPE_SYSTEM|set-id`` with value ``urn:oid:X`` carries the
  setId; extension ``EXT_VERSION_NUMBER`` (valuePositiveInt/valueInteger) the versionNumber;
* first version: setId = a new OID, distinct from the id; versionNumber 1;
* replacement (``relatesTo.code = replaces``): a document this facade sent is resolved from its registry first
  (``facade.mapping.replacement``, which completes the target, the setId and the version); otherwise the setId is
  REQUIRED (the old document's), versionNumber = the
  extension, else the replaced DocumentReference's version + 1 when it is in the request, else 2; the old uniqueId
  comes from ``relatesTo.target.identifier`` (``urn:oid:``) or the target's ``masterIdentifier``; the old
  entryUUID (needed for the XDS RPLC association) from a ``urn:uuid:`` target identifier, or the target's id /
  ``DocumentReference/<uuid>`` reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from facade.errors import PROBLEM_SYSTEM, Problem
from facade.fhir.parse import ParsedEntry
from facade.fhir.references import Resolved
from facade.ids import derived_entry_uuid
from facade.mapping.content import CdaHeader
from facade.mapping.context import MappingContext, extension
from facade.model.identifiers import oid_from_urn

FACADE_NS = PROBLEM_SYSTEM.rsplit("/", 1)[0]
IDENTIFIER_TYPE_SYSTEM = f"{FACADE_NS}/identifier-type"
SET_ID_TYPE = "set-id"
EXT_VERSION_NUMBER = f"{FACADE_NS}/StructureDefinition/version-number"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def entry_uuid(raw: dict[str, Any], p: str, unique_id: str | None, mc: MappingContext) -> str | None:
    """The DocumentEntry entryUUID (ExtrinsicObject/@id): the ``identifier`` with ``use=official`` whose value is
    ``urn:uuid:<uuid>`` (MHD / PDSM4DMP), else one derived from the uniqueId (``derived_entry_uuid``, information
    issue). Never the fullUrl: a ``urn:uuid`` fullUrl is unique only inside its transaction, and a DMP registry
    refuses a second document under an entryUUID it already holds. None: an error was reported."""
    for i, ident in enumerate(raw.get("identifier") or []):
        if not isinstance(ident, dict) or ident.get("use") != "official":
            continue
        value = str(ident.get("value") or "").strip()
        if not value.lower().startswith("urn:uuid:"):
            continue  # another official identifier (not the entryUUID): not ours to judge
        if not UUID.match(value[9:]):
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{p}.identifier[{i}].value",
                element="DocumentReference.identifier (official: the entryUUID)",
                reason=f"{value} is not urn:uuid:<UUID>",
            )
            return None
        return "urn:uuid:" + value[9:].lower()
    if unique_id is None:
        return None  # the uniqueId problem is reported; nothing to derive from
    derived = derived_entry_uuid(unique_id)
    mc.report.inform(
        Problem.INFORMATION,
        expression=f"{p}.identifier",
        text=f"no official urn:uuid identifier: the DocumentEntry entryUUID {derived} was derived from the uniqueId "
        "(quote it to replace this document)",
    )
    return derived


@dataclass(frozen=True)
class Version:
    """setId / versionNumber of a document and, for a replacement, the replaced document's ids."""

    set_id: str | None
    version: int | None
    replaces_id: str | None = None  # the replaced document's uniqueId
    replaces_uuid: str | None = None  # its entryUUID (XDS RPLC association)


@dataclass(frozen=True)
class _Replaced:
    unique_id: str | None = None
    entry_uuid: str | None = None
    version: int | None = None
    set_id: str | None = None


def read_version(doc: ParsedEntry, unique_id: str | None, header: CdaHeader | None, mc: MappingContext) -> Version:
    """The document's version from ``relatesTo`` (replaces), its set-id identifier and version extension, or a
    supplied CDA's header; problems reported, None fields then."""
    replaced = _replacement(doc, mc)
    set_id, version = _versioning(
        doc.raw, doc.path, unique_id, header, replaced.unique_id, replaced.version, replaced.set_id, mc
    )
    return Version(set_id, version, replaced.unique_id, replaced.entry_uuid)


def _replacement(doc: ParsedEntry, mc: MappingContext) -> _Replaced:
    """The replaced document, from relatesTo[code=replaces] (one at most; other codes are refused)."""
    relations = [(k, r) for k, r in enumerate(doc.raw.get("relatesTo") or []) if isinstance(r, dict)]
    for k, rel in relations:
        if rel.get("code") != "replaces":
            mc.report.add(
                Problem.RELATION_NOT_SUPPORTED, expression=f"{doc.path}.relatesTo[{k}].code", code=rel.get("code")
            )
    replaces = [(k, r) for k, r in relations if r.get("code") == "replaces"]
    if not replaces:
        return _Replaced()
    for k, _ in replaces[1:]:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{doc.path}.relatesTo[{k}]",
            element="DocumentReference.relatesTo",
            reason="a document replaces at most one document",
        )
    k, rel = replaces[0]
    expr = f"{doc.path}.relatesTo[{k}].target"
    replaced = _replaced(doc, rel.get("target") or {}, expr, mc)
    if replaced.unique_id is None:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{expr}.identifier",
            element="relatesTo.target.identifier: the replaced document's uniqueId (urn:oid:...)",
        )
    if replaced.entry_uuid is None:
        mc.report.add(
            Problem.MISSING_ELEMENT,
            expression=f"{expr}.reference",
            element="relatesTo.target: the replaced DocumentEntry's entryUUID (DocumentReference/<uuid>, or an "
            "identifier urn:uuid:...) for the XDS RPLC association",
        )
    return replaced


def _replaced(doc: ParsedEntry, target: dict[str, Any], expr: str, mc: MappingContext) -> _Replaced:
    """What ``relatesTo.target`` says of the replaced document: its identifier (uniqueId or entryUUID), and the
    replaced DocumentReference itself when the reference resolves in the request."""
    old_id: str | None = None
    old_uuid: str | None = None
    value = str((target.get("identifier") or {}).get("value") or "").strip()
    if value.lower().startswith("urn:uuid:") and UUID.match(value[9:]):
        old_uuid = "urn:uuid:" + value[9:].lower()
    elif value:
        old_id = oid_from_urn(value)
    ref = target.get("reference")
    if not isinstance(ref, str) or not ref:
        return _Replaced(old_id, old_uuid)
    resolved = mc.resolver.resolve(target, doc)
    if resolved is not None and resolved.resource_type == "DocumentReference":
        mc.mark(resolved, "replaced")
        rid, ruuid, rversion, rset = _describe_old(resolved)
        return _Replaced(old_id or rid, old_uuid or ruuid, rversion, rset)
    if resolved is not None:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{expr}.reference",
            element="relatesTo.target",
            reason=f"{ref} is a {resolved.resource_type}; expected a DocumentReference",
        )
    elif old_uuid is None:
        old_uuid = _uuid_of_reference(ref)
    return _Replaced(old_id, old_uuid)


def _uuid_of_reference(ref: str) -> str | None:
    """``DocumentReference/<uuid>`` or ``urn:uuid:<uuid>`` (a document not in the request) -> its entryUUID."""
    tail = ref.rsplit("/", 1)[-1]
    if ref.startswith("DocumentReference/") and UUID.match(tail):
        return "urn:uuid:" + tail.lower()
    if ref.lower().startswith("urn:uuid:") and UUID.match(ref[9:]):
        return "urn:uuid:" + ref[9:].lower()
    return None


def _describe_old(target: Resolved) -> tuple[str | None, str | None, int | None, str | None]:
    raw = target.raw
    master = raw.get("masterIdentifier") or {}
    old_id = oid_from_urn(str(master.get("value") or "")) if master.get("value") else None
    old_uuid = None
    rid = raw.get("id")
    if isinstance(rid, str) and UUID.match(rid):
        old_uuid = "urn:uuid:" + rid.lower()
    for ident in raw.get("identifier") or []:
        value = str((ident or {}).get("value") or "")
        if value.lower().startswith("urn:uuid:") and UUID.match(value[9:]):
            old_uuid = old_uuid or "urn:uuid:" + value[9:].lower()
    return old_id, old_uuid, _version_extension(raw), _set_id_identifier(raw)[0]


def _set_id_identifier(raw: dict[str, Any]) -> tuple[str | None, int | None]:
    """(setId OID, identifier index) of the identifier typed IDENTIFIER_TYPE_SYSTEM|set-id."""
    for i, ident in enumerate(raw.get("identifier") or []):
        codings = ((ident or {}).get("type") or {}).get("coding") or []
        if any(c.get("system") == IDENTIFIER_TYPE_SYSTEM and c.get("code") == SET_ID_TYPE for c in codings):
            return oid_from_urn(str(ident.get("value") or "")), i
    return None, None


def _version_extension(raw: dict[str, Any]) -> int | None:
    found = extension(raw, EXT_VERSION_NUMBER)
    if found is None:
        return None
    value = found[1].get("valuePositiveInt", found[1].get("valueInteger"))
    return value if isinstance(value, int) and value >= 1 else None


def _versioning(
    raw: dict[str, Any],
    p: str,
    unique_id: str | None,
    header: CdaHeader | None,
    replaces_id: str | None,
    replaced_version: int | None,
    replaced_set_id: str | None,
    mc: MappingContext,
) -> tuple[str | None, int | None]:
    set_id, index = _set_id_identifier(raw)
    if index is not None and set_id is None:
        mc.report.add(
            Problem.INVALID_VALUE,
            expression=f"{p}.identifier[{index}].value",
            element="setId identifier",
            reason="must be urn:oid:<OID>",
        )
        return None, None
    set_id = set_id or replaced_set_id or (header.set_id if header else None)
    version = _version_extension(raw) or (header.version if header else None)
    is_replacement = bool(raw.get("relatesTo")) and any(
        (r or {}).get("code") == "replaces" for r in raw.get("relatesTo") or []
    )
    if is_replacement:
        if set_id is None:
            mc.report.add(
                Problem.MISSING_ELEMENT,
                expression=f"{p}.identifier",
                element=f"DocumentReference.identifier typed {IDENTIFIER_TYPE_SYSTEM}|{SET_ID_TYPE}: the setId of "
                "the replaced document (a new version keeps the setId)",
            )
        version = version or ((replaced_version + 1) if replaced_version else 2)
        if version < 2:
            mc.report.add(
                Problem.INVALID_VALUE,
                expression=f"{p}.extension",
                element="version-number",
                reason="a replacement has versionNumber 2 or more",
            )
        if replaces_id is not None and replaces_id == unique_id:
            mc.report.add(Problem.REPLACEMENT_SAME_ID, expression=f"{p}.masterIdentifier.value", unique_id=unique_id)
        return set_id, version
    if set_id is None and unique_id is not None:
        set_id = mc.build.new_oid()
        while set_id == unique_id:  # defensive: a factory never repeats, but setId must differ from id
            set_id = mc.build.new_oid()
    return set_id, version or 1


__all__ = [
    "EXT_VERSION_NUMBER",
    "IDENTIFIER_TYPE_SYSTEM",
    "SET_ID_TYPE",
    "UUID",
    "Version",
    "entry_uuid",
    "read_version",
]
