"""A known mixed load for the infocentre tests: distinct copies of the conformance bundles (fresh uniqueIds, the
entryUUIDs left to the facade), a refused one, a masked one, and the replacement of a delivered letter."""

from __future__ import annotations

import copy
import json
from typing import Any

from facade.settings import PROJECT_ROOT

BUNDLES = PROJECT_ROOT / "conformance" / "bundles"
LETTER = "ldl-ses/pdf-discharge-letter.json"  # 11490-0, discharge
OPERATIVE = "catalogue/cr-operatoire.json"  # 34874-8, discharge
CONSULTATION = "catalogue/cr-consultation.json"  # 11488-4
MASQUE_PS = ("https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument",
             "MASQUE_PS")  # fmt: skip
NORMAL = ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N")


def _resources(b: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == kind]


def copy_of(name: str, n: int, *, labels: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """Bundle ``name`` as a new document: uniqueId ...77.<n>, submission set ...77.<n>.1, no client entryUUIDs."""
    b: dict[str, Any] = json.loads((BUNDLES / name).read_bytes())
    (doc,) = _resources(b, "DocumentReference")
    doc["masterIdentifier"]["value"] = f"urn:oid:1.2.250.1.999.1.1.77.{n}"
    doc.pop("identifier", None)
    if labels:
        doc["securityLabel"] = [{"coding": [{"system": s, "code": c}]} for s, c in labels]
    for submission_set in _resources(b, "List"):
        submission_set["identifier"] = [
            {**i, "value": f"urn:oid:1.2.250.1.999.1.1.77.{n}.1"} for i in submission_set["identifier"]
            if i.get("use") == "usual"
        ]  # fmt: skip
    return b


def with_bad_ins(b: dict[str, Any]) -> dict[str, Any]:
    """The same bundle with an INS whose key does not match (refused by the facade before the outbox)."""
    b = copy.deepcopy(b)
    for patient in _resources(b, "Patient"):
        for identifier in patient.get("identifier", []):
            value = identifier.get("value", "")
            if len(value) == 15 and value.isdigit():
                identifier["value"] = value[:13] + f"{(int(value[13:]) + 1) % 97:02d}"
    return b


def replacing(b: dict[str, Any], unique_id: str) -> dict[str, Any]:
    """``b`` as the replacement of the delivered document ``unique_id`` (named by its masterIdentifier)."""
    b = copy.deepcopy(b)
    (doc,) = _resources(b, "DocumentReference")
    doc["relatesTo"] = [
        {"code": "replaces", "target": {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{unique_id}"}}}
    ]
    return b


def body(b: dict[str, Any]) -> bytes:
    return json.dumps(b).encode()
