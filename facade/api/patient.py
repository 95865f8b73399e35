"""FHIR representations of what the DMP says about a patient (TD0.2 -> Patient, pdsm4dmp §6) and of a document read
from it (TD3.2 -> the raw bytes or a Binary). No web framework: the routes call these.

TD0.2: a searchset — one Patient when the DMP exists (``active`` false when it is closed, with ``dmp-fermeture``),
none when it does not, with an OperationOutcome entry (search.mode ``outcome``) saying so, as P4D's "0 entry = no DMP"
and the issue's "an OperationOutcome when there is no DMP" both ask. The extension URLs appear only in a P4D page
example, outside the IG canonical [UNCERTAIN]: their base is ``FACADE_DMP__STATUS_EXTENSION_BASE``. The consultation
authorization is "hors scope" in P4D (a future Consent): it is carried in a facade extension, so a client sees it.
Identity traits are informational only (P4D RG_0320: never overwrite the local identity with them).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from facade.dmp.ins_param import InsParameter
from facade.dmp.patient_status import DmpPatientStatus, PersonName
from facade.dmp.retrieve import RetrievedDocument
from facade.errors import Issue, Problem
from facade.model.identifiers import INS_OIDS_ALL
from facade.outcomes import operation_outcome

DEFAULT_EXTENSION_BASE = "https://interop.esante.gouv.fr/ig/fhir/dmp/StructureDefinition/"
CLOSING_REASON_SYSTEM = "https://interop.esante.gouv.fr/ig/fhir/dmp/CodeSystem/dmp-motif-fermeture"
AUTHORIZATION_EXTENSION = "https://github.com/dmp-facade/dmp-facade/StructureDefinition/dmp-autorisation"
AUTHORIZATION_SYSTEM = "urn:oid:1.2.250.1.213.4.1.2.6.2"
_GENDER = {"M": "male", "F": "female", "U": "unknown", "UN": "other"}
_NAME_USE = {"SP": "usual", "BR": "official"}


def _date(ts: str | None) -> str | None:
    """HL7 TS ``YYYYMMDD...`` -> FHIR date (what the precision allows)."""
    if not ts or not ts[:4].isdigit():
        return None
    parts = [ts[:4], ts[4:6], ts[6:8]]
    return "-".join(p for p in parts if len(p) == 2 or len(p) == 4)


def _name(name: PersonName) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name.qualifier in _NAME_USE:
        out["use"] = _NAME_USE[name.qualifier]
    if name.family:
        out["family"] = name.family
    if name.given:
        out["given"] = list(name.given)
    if name.prefix:
        out["prefix"] = [name.prefix]
    return out


def _telecom(use: str | None, value: str) -> dict[str, Any] | None:
    scheme, _, rest = value.partition(":")
    system = {"mailto": "email", "tel": "phone"}.get(scheme.lower())
    if system is None or not rest:
        return None
    return {"system": system, "value": rest, **({"use": "mobile"} if use == "MC" else {})}


def _extensions(status: DmpPatientStatus, base: str) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = []
    if not status.active:
        closing: list[dict[str, Any]] = []
        if _date(status.closed_on):
            closing.append({"url": "dateFermeture", "valueDate": _date(status.closed_on)})
        if status.closing_reason:
            closing.append({"url": "motifFermeture", "valueCodeableConcept": {
                "coding": [{"system": CLOSING_REASON_SYSTEM, "code": status.closing_reason}]}})  # fmt: skip
        if status.closing_text:
            closing.append({"url": "raisonFermeture", "valueString": status.closing_text})
        ext.append({"url": f"{base}dmp-fermeture", "extension": closing})
    if status.treating_physician is not None:
        ext.append({"url": f"{base}dmp-medecin-traitant", "valueBoolean": status.treating_physician})
    if status.attached_to_mes is not None:
        ext.append({"url": f"{base}dmp-rattachement-mes", "valueBoolean": status.attached_to_mes})
    if status.authorization is not None:
        ext.append({"url": AUTHORIZATION_EXTENSION,
                    "valueCoding": {"system": AUTHORIZATION_SYSTEM, "code": status.authorization}})  # fmt: skip
    return ext


def dmp_patient(status: DmpPatientStatus, extension_base: str = DEFAULT_EXTENSION_BASE) -> dict[str, Any]:
    """The Patient as the DMP knows it: the INS slice only, ``active`` = the DMP is open, the DMP's flags."""
    # the INS slice only: not the INS-C (1.2.250.1.213.1.4.2, under the same arc) the DMP also returns
    ins_ids = [(root, ext) for root, ext in status.identifiers if root in INS_OIDS_ALL]
    identifiers = ins_ids or [(status.ins_oid, status.ins)]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "extension": _extensions(status, extension_base),
        "identifier": [{"system": f"urn:oid:{root}", "value": ext} for root, ext in identifiers],
        "active": status.active,
    }
    names = [_name(n) for n in status.names if n.family or n.given]
    if names:
        patient["name"] = names
    telecoms = [t for t in (_telecom(u, v) for u, v in status.telecoms) if t is not None]
    if telecoms:
        patient["telecom"] = telecoms
    if status.gender in _GENDER:
        patient["gender"] = _GENDER[status.gender]
    if _date(status.birth_time):
        patient["birthDate"] = _date(status.birth_time)
    if not patient["extension"]:
        del patient["extension"]
    return patient


def patient_searchset(status: DmpPatientStatus, query: InsParameter, base_url: str, *,
                      extension_base: str = DEFAULT_EXTENSION_BASE, warnings: list[Issue] | None = None,
                      ) -> dict[str, Any]:  # fmt: skip
    """TD0.2 as a searchset: 1 Patient (DMP open or closed), or 0 and an outcome entry (no DMP)."""
    entries: list[dict[str, Any]] = []
    if status.exists:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": dmp_patient(status, extension_base),
                        "search": {"mode": "match"}})  # fmt: skip
    issues = list(warnings or [])
    if not status.exists:
        issues.insert(0, Issue(Problem.DMP_NONE, expression="Patient.identifier"))
    if issues:
        entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1 if status.exists else 0,
        "link": [{"relation": "self", "url": f"{base_url}/Patient?identifier={query.token}"}],
        "entry": entries,
    }


def wants_binary_resource(accept: str | None) -> bool:
    """``Accept: application/fhir+json`` (or json) asks for a Binary; anything else gets the document's own bytes
    (P4D TD3.2: ``Accept: <contentType>`` raw, ``Accept: application/fhir+json`` Binary)."""
    media = [m.split(";", 1)[0].strip().lower() for m in (accept or "").split(",")]
    return any(m in ("application/fhir+json", "application/json", "application/json+fhir") for m in media)


def binary_resource(document: RetrievedDocument) -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "id": document.unique_id,
        "contentType": document.mime_type,
        "data": base64.b64encode(document.data).decode("ascii"),
    }
