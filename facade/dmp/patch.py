"""A PDSm PATCH on a DocumentReference, turned into the one DMP change it asks for (pdsm4dmp §3.1, §3.3 items 1-3).

PDSm lets a client patch only ``status``, ``securityLabel`` and the ``pdsm-ext-is-archived`` extension, in JSON Patch
or FHIRPath Patch. The digest's safer reading (§3.3 item 3) is followed: the patch is applied to the document as the
DMP holds it, and the *resulting* status / archived flag / confidentiality set is compared with the current one; the
difference is the change (delete, archive, unarchive, or new confidentiality codes). So ``replace /securityLabel/0``
cannot silently drop the HL7 code XDS keeps: a result without one is refused. Nothing here talks to the DMP.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from facade.dmp.json_patch import PatchError, apply_operations
from facade.dmp.rights import Transaction
from facade.errors import FacadeError, Problem
from facade.model import oids
from facade.terminology.uri_mapper import uri_to_oid

IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
TRE_A07_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
V3_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
JSON_PATCH = "application/json-patch+json"
FHIR_JSON = "application/fhir+json"

HL7 = oids.HL7_CONFIDENTIALITY
A07 = oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT
# JDV_J58 (pdsm4dmp §5 "Codes"): the only confidentiality codes the DMP takes, with their display
DISPLAYS: Mapping[tuple[str, str], str] = {
    (HL7, "N"): "Normal",
    (HL7, "R"): "Restricted",
    (HL7, "V"): "Very restricted",
    (A07, "MASQUE_PS"): "Masqué aux professionnels de santé",
    (A07, "INVISIBLE_PATIENT"): "Non visible par le patient",
    (A07, "INVISIBLE_REPRESENTANTS_LEGAUX"): "Non visible par les représentants légaux du patient",
}
PATCHABLE = ("status", "securityLabel", "extension")  # PDSm st_maj.md (the extension: pdsm-ext-is-archived only)
Code = tuple[str, str, str]  # (codingScheme OID, code, display), as XDS carries it


class ChangeKind(StrEnum):
    NONE = "none"
    VISIBILITY = "visibility"  # TD3.3a/b: a new metadata version with other confidentiality codes
    ARCHIVE = "archive"  # TD3.3d Approved -> Archived
    UNARCHIVE = "unarchive"  # TD3.3d Archived -> Approved
    DELETE = "delete"  # TD3.3c -> Deleted


@dataclass(frozen=True)
class DocumentState:
    """What a PATCH may change of a DMP document."""

    status: str  # FHIR DocumentReference.status
    archived: bool
    confidentiality: tuple[Code, ...]


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    transactions: tuple[Transaction, ...] = ()  # what the rights matrix must open
    confidentiality: tuple[Code, ...] = ()  # the new set (VISIBILITY)


def fhir_system(oid: str) -> str:
    return {HL7: V3_SYSTEM, A07: TRE_A07_SYSTEM}.get(oid, f"urn:oid:{oid}")


def security_labels(codes: Sequence[Code]) -> list[dict[str, Any]]:
    return [{"coding": [{"system": fhir_system(s), "code": c, "display": d}]} for s, c, d in codes]


def patch_view(resource: Mapping[str, Any], state: DocumentState, *, p4d: bool = False) -> dict[str, Any]:
    """The resource the patch applies to: ``resource`` with the state's elements, the archived flag always present
    (``false`` when not archived) so that a ``replace`` of it resolves. ``p4d``: the TRE_A07 flags first, the HL7
    code last, so that P4D's ``replace /securityLabel/0`` replaces the flag (masking: the HL7 code alone is there)."""
    view = copy.deepcopy(dict(resource))
    view["status"] = state.status
    codes = sorted(state.confidentiality, key=lambda c: c[0] == HL7) if p4d else state.confidentiality
    view["securityLabel"] = security_labels(codes)
    others = [e for e in view.get("extension", []) if e.get("url") != IS_ARCHIVED]
    view["extension"] = [{"url": IS_ARCHIVED, "valueBoolean": state.archived}, *others]
    return view


def plan_patch(
    body: bytes, content_type: str, resource: Mapping[str, Any], state: DocumentState, *, p4d: bool = False
) -> tuple[Change, dict[str, Any]]:
    """The change a PATCH body asks for, and the patched resource; raises the 4xx FacadeError of a bad patch.

    ``p4d`` (``FACADE_DMP__SECURITY_LABEL_PATCH=p4d``) is the alternative reading of pdsm4dmp §3.3 item 3: P4D's
    examples ``replace /securityLabel/0`` work (see ``patch_view``) and a result without an HL7 code keeps the current
    one, instead of the default 422."""
    view = patch_view(resource, state, p4d=p4d)
    if content_type == JSON_PATCH:
        operations = _json(body, JSON_PATCH)
        if not isinstance(operations, list):
            raise FacadeError(Problem.PATCH_INVALID, expression="$", reason="a JSON Patch is an array of operations")
        operations = [_pointer_extensions(op, view, n) for n, op in enumerate(operations)]
    elif content_type == FHIR_JSON:
        from facade.dmp.fhirpath_patch import to_operations

        operations = to_operations(_json(body, FHIR_JSON), view)
    else:
        raise FacadeError(
            Problem.UNSUPPORTED_MEDIA_TYPE,
            content_type=content_type or "(absent)",
            accepted=f"{JSON_PATCH} (JSON Patch) or {FHIR_JSON} (FHIRPath Patch Parameters)",
        )
    try:
        patched = apply_operations(view, operations)
    except PatchError as exc:
        raise FacadeError(Problem.PATCH_INVALID, expression=exc.where, reason=exc.reason) from exc
    _only_patchable(view, patched)
    keep = next((c for c in state.confidentiality if c[0] == HL7), None) if p4d else None
    return diff(state, read_state(patched, keep_hl7=keep)), patched


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FacadeError(Problem.BODY_NOT_JSON, reason=f"{what}: {exc}") from exc


# P4D writes /extension[url:'<url>']/valueBoolean (not RFC 6901): resolved to the index of that extension
_EXT_SELECTOR = re.compile(r"^/extension\[url:'(?P<url>[^']*)'\]")


def _pointer_extensions(op: Any, view: Mapping[str, Any], n: int) -> Any:
    if not isinstance(op, dict):
        return op
    out = dict(op)
    for key in ("path", "from"):
        value = op.get(key)
        m = _EXT_SELECTOR.match(value) if isinstance(value, str) else None
        if m is None or not isinstance(value, str):
            continue
        # PDSm's own example names the SearchParameter (…/SearchParameter/…is-archived): the same flag
        url = IS_ARCHIVED if m["url"].endswith("is-archived") else m["url"]
        index = next((i for i, e in enumerate(view["extension"]) if e.get("url") == url), None)
        if index is None:
            raise FacadeError(Problem.PATCH_INVALID, expression=f"$[{n}].{key}", reason=f"no extension {m['url']}")
        out[key] = f"/extension/{index}" + value[m.end() :]
    return out


def _only_patchable(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Refuse (405, PDSm st_maj.md) a patch that changed anything but status, securityLabel, the archived flag."""
    for key in sorted(set(before) | set(after)):
        if key in ("status", "securityLabel"):
            continue
        if key == "extension":
            if _others(before.get(key)) == _others(after.get(key)):
                continue
            key = "extension (other than pdsm-ext-is-archived)"
        elif before.get(key) == after.get(key):
            continue
        raise FacadeError(Problem.PATCH_ELEMENT_FORBIDDEN, expression=f"DocumentReference.{key}", element=key)


def _others(extensions: Any) -> Any:
    if not isinstance(extensions, list):
        return extensions
    return [e for e in extensions if not (isinstance(e, dict) and e.get("url") == IS_ARCHIVED)]


def read_state(resource: Mapping[str, Any], *, keep_hl7: Code | None = None) -> DocumentState:
    """The patched status, archived flag and confidentiality codes; 422 for values the DMP cannot hold."""
    status = resource.get("status")
    if status not in ("current", "superseded", "entered-in-error"):
        raise FacadeError(
            Problem.INVALID_VALUE, expression="DocumentReference.status", element="status",
            reason=f"{status!r} is not a DocumentReference status the DMP knows (current, entered-in-error)",
        )  # fmt: skip
    flags = [e for e in resource.get("extension") or [] if isinstance(e, dict) and e.get("url") == IS_ARCHIVED]
    if len(flags) > 1 or (flags and not isinstance(flags[0].get("valueBoolean"), bool)):
        raise FacadeError(
            Problem.INVALID_VALUE, expression="DocumentReference.extension", element="pdsm-ext-is-archived",
            reason="one extension with a valueBoolean expected",
        )  # fmt: skip
    archived = bool(flags and flags[0]["valueBoolean"])
    return DocumentState(str(status), archived, _codes(resource.get("securityLabel"), keep_hl7))


def _codes(labels: Any, keep_hl7: Code | None = None) -> tuple[Code, ...]:
    codes: list[Code] = []
    for i, label in enumerate(labels if isinstance(labels, list) else []):
        codings = label.get("coding") if isinstance(label, dict) else None
        for j, coding in enumerate(codings if isinstance(codings, list) else []):
            where = f"DocumentReference.securityLabel[{i}].coding[{j}]"
            system = coding.get("system") if isinstance(coding, dict) else None
            code = coding.get("code") if isinstance(coding, dict) else None
            oid = uri_to_oid(system) if isinstance(system, str) else None
            if oid is None or (oid, code) not in DISPLAYS:
                raise FacadeError(
                    Problem.PATCH_LABEL_NOT_ALLOWED, expression=where, system=system, code=code,
                    allowed="N, R, V (HL7 Confidentiality) and MASQUE_PS, INVISIBLE_PATIENT, "
                    "INVISIBLE_REPRESENTANTS_LEGAUX (TRE_A07), JDV_J58",
                )  # fmt: skip
            key = (oid, str(code))
            if key not in [(s, c) for s, c, _ in codes]:
                codes.append((oid, str(code), coding.get("display") or DISPLAYS[key]))
    hl7 = [c for c in codes if c[0] == HL7]
    if not hl7 and keep_hl7 is not None:  # p4d reading: the flag replaced the HL7 code, which XDS keeps
        hl7 = [keep_hl7]
        codes.insert(0, keep_hl7)
    if len(hl7) != 1:
        raise FacadeError(
            Problem.PATCH_CONFIDENTIALITY_REQUIRED, expression="DocumentReference.securityLabel",
            found=", ".join(c for _, c, _ in hl7) or "none",
        )  # fmt: skip
    return tuple(sorted(codes, key=lambda c: c[0] != HL7))  # the HL7 code first, as the registry lists it


def diff(before: DocumentState, after: DocumentState) -> Change:
    """The one change between two states; 422 for a standalone ``superseded`` or several changes at once."""
    changes: list[Change] = []
    if after.status != before.status:
        if after.status == "superseded":
            raise FacadeError(Problem.PATCH_SUPERSEDED_ALONE, expression="DocumentReference.status")
        if after.status != "entered-in-error":
            raise FacadeError(
                Problem.INVALID_VALUE, expression="DocumentReference.status", element="status",
                reason=f"{before.status} -> {after.status} is no DMP transaction (deletion is final)",
            )  # fmt: skip
        changes.append(Change(ChangeKind.DELETE, (Transaction.TD3_3C,)))
    if after.archived != before.archived:
        kind = ChangeKind.ARCHIVE if after.archived else ChangeKind.UNARCHIVE
        changes.append(Change(kind, (Transaction.TD3_3D,)))
    old, new = {c[:2] for c in before.confidentiality}, {c[:2] for c in after.confidentiality}
    if old != new:
        changed = old ^ new
        transactions = []
        if any(s == HL7 or c == "MASQUE_PS" for s, c in changed):
            transactions.append(Transaction.TD3_3A)
        if any(c.startswith("INVISIBLE_") for _, c in changed):
            transactions.append(Transaction.TD3_3B)
        changes.append(Change(ChangeKind.VISIBILITY, tuple(transactions), after.confidentiality))
    if len(changes) > 1:
        raise FacadeError(
            Problem.PATCH_SEVERAL_CHANGES, expression="DocumentReference",
            changes=", ".join(c.kind.value for c in changes),
        )  # fmt: skip
    return changes[0] if changes else Change(ChangeKind.NONE)


__all__ = [
    "IS_ARCHIVED",
    "Change",
    "ChangeKind",
    "DocumentState",
    "diff",
    "patch_view",
    "plan_patch",
    "read_state",
    "security_labels",
]
