"""A DocumentEntry the DMP returned (ITI-18 LeafClass) as a PDSm DocumentReference (P4D td3.1a mapping).

Identifiers (pdsm4dmp §3.3 item 4, [REC]): ``id`` = the entryUUID's UUID (it changes with each metadata version,
as the DMP's does), ``meta.versionId`` = ``VersionInfo/@versionName``, ``masterIdentifier`` =
``urn:ietf:rfc:3986|urn:oid:<uniqueId>``, ``identifier`` = ``urn:ietf:rfc:3986|<logicalId>`` (stable across
versions). Status (JDV_J52, [REC]): Approved -> current, Archived -> current + ``pdsm-ext-is-archived`` true,
Deprecated -> superseded, Deleted -> entered-in-error; the extension is always written, so a PATCH on it finds it.
Codes come back with their FHIR system (``oid_to_uri``: canonical or NOS URI, else ``urn:oid:``).
``content.attachment.url`` is where TD3.2 reads the document (``attachment_url``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from facade.dmp.registry_entry import RegistryEntry
from facade.dmp.retrieve import attachment_url
from facade.dmp.stored_query import DELETED
from facade.model.document import Code
from facade.terminology.uri_mapper import oid_to_uri
from facade.xds.codes import AvailabilityStatus

IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
RFC3986 = "urn:ietf:rfc:3986"
FHIR_STATUS = {
    AvailabilityStatus.APPROVED.value: "current",
    AvailabilityStatus.ARCHIVED.value: "current",
    AvailabilityStatus.DEPRECATED.value: "superseded",
    DELETED: "entered-in-error",
}


def _coding(code: Code) -> dict[str, Any]:
    coding = {"system": oid_to_uri(code.system), "code": code.code}
    if code.display:
        coding["display"] = code.display
    return coding


def _concept(code: Code | None) -> dict[str, Any] | None:
    return {"coding": [_coding(code)]} if code is not None else None


def fhir_instant(dtm: str) -> str | None:
    """XDS DTM (UTC, yyyy[MM[dd[HH[mm[ss]]]]]) -> FHIR date / dateTime; None when unreadable."""
    if not dtm.isdigit() or len(dtm) < 4:
        return None
    if len(dtm) <= 8:
        return "-".join(p for p in (dtm[:4], dtm[4:6], dtm[6:8]) if p)
    padded = (dtm + "0000")[:14]
    try:
        return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    except ValueError:
        return None


def _hash_base64(hex_sha1: str) -> str | None:
    try:
        return base64.b64encode(bytes.fromhex(hex_sha1)).decode("ascii") if hex_sha1 else None
    except (ValueError, binascii.Error):
        return None


def _attachment(entry: RegistryEntry, url: str | None) -> dict[str, Any]:
    attachment: dict[str, Any] = {"contentType": entry.mime_type or "application/octet-stream"}
    optional = {
        "language": entry.language or None,
        "url": url,
        "size": entry.size,
        "hash": _hash_base64(entry.hash),
        "title": entry.title or None,
        "creation": fhir_instant(entry.creation_time),
    }
    attachment.update({k: v for k, v in optional.items() if v is not None})
    return attachment


def _context(entry: RegistryEntry) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if entry.event_codes:
        context["event"] = [{"coding": [_coding(c)]} for c in entry.event_codes]
    period = {k: fhir_instant(v) for k, v in (("start", entry.service_start_time), ("end", entry.service_stop_time))}
    if any(period.values()):
        context["period"] = {k: v for k, v in period.items() if v}
    if entry.facility_type_code is not None:
        context["facilityType"] = _concept(entry.facility_type_code)
    if entry.practice_setting_code is not None:
        context["practiceSetting"] = _concept(entry.practice_setting_code)
    if entry.reference_ids:
        context["related"] = [{"identifier": {"value": ref}} for ref in entry.reference_ids]
    return context


def _subject(patient_id: str) -> dict[str, Any] | None:
    ins, _, rest = patient_id.partition("^^^&")
    oid = rest.partition("&")[0]
    if not ins or not oid:
        return None
    return {"identifier": {"system": f"urn:oid:{oid}", "value": ins}}


def to_document_reference(entry: RegistryEntry, *, attachment: str | None = None) -> dict[str, Any]:
    """The PDSm DocumentReference of a DMP DocumentEntry (``attachment``: its ``content.attachment.url``)."""
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": entry.entry_uuid.removeprefix("urn:uuid:"),
        "meta": {"versionId": entry.version or "1"},
        "extension": [{"url": IS_ARCHIVED, "valueBoolean": entry.status == AvailabilityStatus.ARCHIVED.value}],
        "masterIdentifier": {"system": RFC3986, "value": f"urn:oid:{entry.unique_id}"},
        "identifier": [{"use": "official", "system": RFC3986, "value": entry.logical_id}],
        "status": FHIR_STATUS.get(entry.status, "current"),
    }
    optional: dict[str, Any] = {
        "type": _concept(entry.type_code),
        "category": [_concept(entry.class_code)] if entry.class_code is not None else None,
        "subject": _subject(entry.patient_id),
        "author": [{"display": a.split("^")[0]} for a in entry.author_institutions] or None,
        "description": entry.comments or None,
        "securityLabel": [{"coding": [_coding(c)]} for c in entry.confidentiality] or None,
    }
    resource.update({k: v for k, v in optional.items() if v is not None})
    content: dict[str, Any] = {"attachment": _attachment(entry, attachment)}
    if entry.format_code is not None:
        content["format"] = _coding(entry.format_code)
    resource["content"] = [content]
    context = _context(entry)
    if context:
        resource["context"] = context
    return resource


__all__ = ["FHIR_STATUS", "IS_ARCHIVED", "attachment_url", "fhir_instant", "to_document_reference"]
