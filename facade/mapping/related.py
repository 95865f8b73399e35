"""DocumentReference.context.related -> XDS referenceIdList (+ CDA inFulfillmentOf/order/id) and the lab report.

Rules (spec digest §3.3 referenceIdList, §7.3 "referenceIdList | context.related slice referenceIdList"):
* a logical reference (``related[i].identifier``, MHD convention) with ``system`` ``urn:oid:<root>``, a ``value``
  and a ``type`` coding whose code is in JDV_J231 (``urn:ihe:iti:xds:2013:accession``, ``...:2013:order``,
  ``urn:ihe:iti:xds:2016:studyInstanceUID``) becomes the CXi ``value^^^&root&ISO^type``; an order id is also
  the CDA ``inFulfillmentOf/order/id``;
* a literal reference to a ServiceRequest of the bundle: its ``urn:oid`` identifiers (and requisition) are
  order ids; to a DiagnosticReport: the lab report the CR-BIO body is built from;
* referenceIdList is optional XDS metadata: an identifier we cannot send (no OID system, a type outside J231,
  HL7 v2 separators in the value) is left out with a warning, never a reason to refuse the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from facade.errors import Problem
from facade.fhir.parse import ParsedEntry
from facade.mapping.context import MappingContext
from facade.model.document import InstanceId
from facade.model.identifiers import oid_from_urn

ACCESSION = "urn:ihe:iti:xds:2013:accession"
ORDER = "urn:ihe:iti:xds:2013:order"
STUDY_INSTANCE_UID = "urn:ihe:iti:xds:2016:studyInstanceUID"
REFERENCE_ID_TYPES = (ACCESSION, ORDER, STUDY_INSTANCE_UID)  # JDV_J231 (1.2.250.1.213.1.1.5.693)
_HL7_SEPARATORS = frozenset("^&~|\\")


@dataclass(frozen=True)
class Related:
    reference_ids: tuple[str, ...] = ()  # XDS referenceIdList values (CXi)
    order_ids: tuple[InstanceId, ...] = ()  # CDA inFulfillmentOf/order/id
    report_indexes: tuple[int, ...] = ()  # bundle entries of the DiagnosticReports referenced


def cxi(root: str, value: str, id_type: str) -> str:
    """HL7 v2 CXi as the DMP expects it: ``value^^^&root&ISO^type``."""
    return f"{value}^^^&{root}&ISO^{id_type}"


def sendable(value: str) -> bool:
    return bool(value) and not (set(value) & _HL7_SEPARATORS)


def order_reference_ids(order_ids: Iterable[InstanceId]) -> tuple[str, ...]:
    """CXi of the order ids that can be carried in referenceIdList (others stay in the CDA only)."""
    return tuple(cxi(o.root, o.extension, ORDER) for o in order_ids if o.extension and sendable(o.extension))


def merge(*groups: Iterable[Any]) -> tuple[Any, ...]:
    """Concatenate, keeping the first occurrence of each value."""
    return tuple(dict.fromkeys(item for group in groups for item in group))


def read_related(doc: ParsedEntry, mc: MappingContext) -> Related:
    context = doc.raw.get("context") or {}
    related = context.get("related") if isinstance(context, dict) else None
    reference_ids: list[str] = []
    order_ids: list[InstanceId] = []
    reports: list[int] = []
    for i, item in enumerate(related or []):
        if not isinstance(item, dict):
            continue
        expr = f"{doc.path}.context.related[{i}]"
        identifier = item.get("identifier")
        if isinstance(identifier, dict):
            found = _logical(identifier, f"{expr}.identifier", mc)
            if found is not None:
                reference_ids.append(cxi(*found))
                if found[2] == ORDER:
                    order_ids.append(InstanceId(found[0], found[1]))
        if isinstance(item.get("reference"), str):
            target = mc.resolver.resolve(item, doc)
            if target is None:
                if not isinstance(identifier, dict):
                    mc.report.warn(
                        Problem.INVALID_VALUE,
                        expression=f"{expr}.reference",
                        element="DocumentReference.context.related",
                        reason=f"{item['reference']} is not in the bundle and has no identifier: not sent",
                    )
                continue
            if target.resource_type == "DiagnosticReport" and not target.contained:
                reports.append(target.entry.index)
            elif target.resource_type == "ServiceRequest":
                for root, value in service_request_ids(target.raw):
                    order_ids.append(InstanceId(root, value))
                    if sendable(value):
                        reference_ids.append(cxi(root, value, ORDER))
    return Related(merge(reference_ids), merge(order_ids), merge(reports))


def service_request_ids(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(root, value) of a ServiceRequest's ``urn:oid`` identifiers and requisition (the order number)."""
    out: list[tuple[str, str]] = []
    idents = [*(raw.get("identifier") or []), raw.get("requisition")]
    for ident in idents:
        if not isinstance(ident, dict) or not ident.get("value"):
            continue
        root = oid_from_urn(str(ident.get("system") or ""))
        if root is not None and str(ident.get("system", "")).lower().startswith("urn:oid:"):
            out.append((root, str(ident["value"])))
    return out


def _logical(identifier: dict[str, Any], expr: str, mc: MappingContext) -> tuple[str, str, str] | None:
    """(root, value, J231 type) of a logical reference; warns and returns None when it cannot be sent."""
    system = str(identifier.get("system") or "")
    value = str(identifier.get("value") or "").strip()
    codings = ((identifier.get("type") or {}).get("coding") or []) if isinstance(identifier.get("type"), dict) else []
    id_type = next(
        (str(c["code"]) for c in codings if isinstance(c, dict) and c.get("code") in REFERENCE_ID_TYPES), None
    )
    root = oid_from_urn(system) if system.lower().startswith("urn:oid:") else None
    reason = None
    if id_type is None:
        reason = f"identifier.type is not one of {', '.join(REFERENCE_ID_TYPES)} (JDV_J231)"
    elif root is None:
        reason = "identifier.system must be urn:oid:<assigning authority OID>"
    elif not sendable(value):
        reason = "identifier.value is empty or contains an HL7 v2 separator (^ & ~ | \\)"
    if reason is not None:
        mc.report.warn(
            Problem.INVALID_VALUE,
            expression=expr,
            element="DocumentReference.context.related.identifier (XDS referenceIdList)",
            reason=f"{reason}; not sent",
        )
        return None
    assert root is not None and id_type is not None
    return root, value, id_type


__all__ = [
    "ACCESSION",
    "ORDER",
    "REFERENCE_ID_TYPES",
    "STUDY_INSTANCE_UID",
    "Related",
    "cxi",
    "merge",
    "order_reference_ids",
    "read_related",
    "sendable",
]
