"""Issue 10, visibility and consent at submission, through the real facade wired to the simulator over mutual TLS:
each refused case answers its own code and nothing reaches the DMP (no request in the simulator's inbox, nothing in
its registry, nothing in the outbox); the patient's opposition is in the audit trail; the DMP-parameter setting
lets the masked-and-invisible document through."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from facade.outbox.audit import AuditEvent
from facade.outbox.record import State
from facade.settings import Settings

from .conftest import Facade, bundle

HL7 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
TRE_A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
CONSENT_URL = "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-0000000000c0"


def letter(*labels: tuple[str, str]) -> dict[str, Any]:
    b: dict[str, Any] = json.loads(bundle("ldl-ses/pdf-discharge-letter.json"))
    b["entry"][1]["resource"]["securityLabel"] = [{"coding": [{"system": s, "code": c}]} for s, c in labels]
    return b


def opposed() -> dict[str, Any]:
    b = letter((HL7, "N"))
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": b["entry"][3]["fullUrl"]},
        "provision": {"type": "deny"},
    }
    b["entry"].append({"fullUrl": CONSENT_URL, "resource": consent, "request": {"method": "POST", "url": "Consent"}})
    return b


def post(facade: Facade, b: dict[str, Any]) -> Any:
    return facade.post(json.dumps(b).encode())


def details(response: Any) -> list[str]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return [c["code"] for i in outcome["issue"] for c in i.get("details", {}).get("coding", [])]


def assert_nothing_sent(facade: Facade) -> None:
    assert facade.inbox() == []
    assert facade.simulator.simulator.registry.documents() == []
    assert all(facade.runtime.outbox.list_by_state(s) == [] for s in State)


CASES = {
    "visibility-masked-and-invisible": letter((HL7, "N"), (TRE_A07, "MASQUE_PS"), (TRE_A07, "INVISIBLE_PATIENT")),
    "visibility-adult-legal-representatives": letter((HL7, "N"), (TRE_A07, "INVISIBLE_REPRESENTANTS_LEGAUX")),
    "visibility-code-not-for-dmp": letter((HL7, "N"), (TRE_A07, "MASQUE_PSOCIAL")),
    "visibility-choice-missing": letter((TRE_A07, "MASQUE_PS")),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_a_visibility_refusal_sends_nothing(facade: Facade, code: str) -> None:
    response = post(facade, CASES[code])
    assert response.status_code == 422, response.text
    assert code in details(response)
    assert_nothing_sent(facade)


def test_the_patients_opposition_is_refused_audited_and_nothing_is_sent(facade: Facade) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    response = post(facade, opposed())

    assert response.status_code == 403, response.text
    assert details(response) == ["patient-opposition"]
    issue = response.json()["issue"][0]
    assert issue["code"] == "forbidden" and issue["expression"] == ["Bundle.entry[7].resource.provision.type"]
    assert_nothing_sent(facade)
    audit = facade.runtime.outbox.audit_between(start, datetime.now(UTC) + timedelta(seconds=1))
    assert [(a.event, a.outcome) for a in audit] == [(AuditEvent.REJECTED.value, "patient-opposition")]
    assert audit[0].submission_id is None


def test_the_dmp_parameter_setting_lets_masked_and_invisible_through(start_facade: Callable[..., Facade]) -> None:
    def allow(settings: Settings) -> None:
        settings.visibility.allow_masked_and_invisible = True

    facade = start_facade(configure=allow)
    response = post(facade, CASES["visibility-masked-and-invisible"])
    assert response.status_code == 200, response.text
    (request,) = facade.inbox()
    text = request.read_bytes()
    # the client's document and the facade's lot signature both carry the two codes
    assert text.count(b'nodeRepresentation="INVISIBLE_PATIENT"') == 2
    assert text.count(b'nodeRepresentation="MASQUE_PS"') == 2
