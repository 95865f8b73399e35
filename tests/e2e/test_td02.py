"""TD0.2 end to end: GET [base]/Patient?identifier=<INS system>|<INS> through the real facade, over mutual TLS with a
signed VIHF, to the simulator's scripted patients; the HL7v3 body it received passes the kit's XSD and has the GIE
sample's shape; refusals happen before anything is sent; the optional check before feeding refuses a closed DMP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from facade.dmp.client import DmpService
from facade.dmp.patient_status import TD02_ACTION, build_request, ins_cx
from facade.errors import RemoteRejectionError
from facade.settings import Settings
from facade.simulator.config import PATIENTS_PATH
from facade.xds.error_mapping import check_hl7v3_answer
from tests.dmp.test_patient_status import hl7v3_schema, sample_body, shape

from .conftest import Facade, bundle, outcome_codes
from .plain_soap import PlainRequest

PROBLEM = "https://github.com/dmp-facade/dmp-facade/problem"
INS = "248039263001064"  # valid key, test OID (demo settings accept test INS)
TEST_OID = "1.2.250.1.213.1.4.10"
TOKEN = f"urn:oid:1.2.250.1.213.1.4.10|{INS}"
BUNDLE_INS = "185076912345673"  # the patient of cr/text-plain-report.json
EXT = "https://interop.esante.gouv.fr/ig/fhir/dmp/StructureDefinition/"


def status(facade: Facade, token: str = TOKEN, **headers: str) -> Any:
    return facade.client.get("/fhir/Patient", params={"identifier": token}, headers=headers)


def patients(facade: Facade, states: dict[str, Any]) -> None:
    facade.simulator.simulator.patients.update_from_json(states)


def extension(resource: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in resource.get("extension", []) if e["url"] == EXT + name)


def test_a_known_patient_is_one_active_patient_and_the_request_has_the_official_shape(
    facade: Facade, kit_path: Path
) -> None:
    patients(facade, {INS: {"treating_physician": True, "attached_to_mes": False, "authorization": "VALIDE"}})
    r = status(facade)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset" and body["total"] == 1
    patient = body["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient" and patient["active"] is True
    assert patient["identifier"] == [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": INS}]
    assert extension(patient, "dmp-medecin-traitant")["valueBoolean"] is True
    assert extension(patient, "dmp-rattachement-mes")["valueBoolean"] is False
    assert not [e for e in patient["extension"] if e["url"] == EXT + "dmp-fermeture"]

    received = PlainRequest.read(facade.inbox()[-1])
    assert received.request_line.startswith(f"POST {PATIENTS_PATH} ")
    assert received.action == "urn:hl7-org:v3:PRPA_IN201307UV02"
    assert received.headers["content-type"].startswith("application/soap+xml")
    assert received.vihf_value("urn:oasis:names:tc:xacml:2.0:resource:resource-id") == (
        f"{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
    )
    schema = hl7v3_schema(kit_path, "PRPA_IN201307UV02")
    assert schema.validate(received.payload), schema.error_log
    assert shape(received.payload) == shape(sample_body(kit_path, "TD0.2_test_existence_request.xml"))


@pytest.mark.parametrize("state", ["open", "closed", "none"])
def test_the_simulators_answers_pass_the_hl7v3_xsd(facade: Facade, kit_path: Path, state: str) -> None:
    patients(facade, {INS: state})
    service = facade.runtime.patient_status()
    body = build_request(INS, TEST_OID, sender=service.sender, now=service.now())
    answer = facade.runtime.dmp_client.call(
        DmpService.PATIENTS, TD02_ACTION, [body], patient_ins_cx=ins_cx(INS, TEST_OID)
    )

    assert answer.action == "urn:hl7-org:v3:PRPA_IN201308UV02"
    schema = hl7v3_schema(kit_path, "PRPA_IN201308UV02")
    assert answer.payload is not None and schema.validate(answer.payload), schema.error_log
    if state == "open":  # nothing the official answer does not have
        extra = set(shape(answer.payload)) - set(shape(sample_body(kit_path, "TD0.2_test_existence_response.xml")))
        assert not extra, extra


def test_an_unknown_patient_has_no_dmp(facade: Facade) -> None:
    patients(facade, {INS: "none"})
    r = status(facade)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 0
    assert [e["search"]["mode"] for e in body["entry"]] == ["outcome"]
    outcome = body["entry"][0]["resource"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert (PROBLEM, "dmp-none") in outcome_codes(outcome)
    assert outcome["issue"][0]["severity"] == "information"


def test_an_ins_the_script_lists_as_unknown_has_no_dmp(facade: Facade) -> None:
    facade.simulator.simulator.script.set(unknown_ins=[INS])
    assert status(facade).json()["total"] == 0


def test_a_closed_dmp_is_an_inactive_patient_with_its_closing(facade: Facade) -> None:
    patients(facade, {INS: {"dmp": "closed", "closed_on": "20250317", "closing_reason": "DECES",
                            "closing_text": "Patient décédé"}})  # fmt: skip
    r = status(facade)

    assert r.status_code == 200, r.text
    patient = r.json()["entry"][0]["resource"]
    assert patient["active"] is False
    closing = {e["url"]: e for e in extension(patient, "dmp-fermeture")["extension"]}
    assert closing["dateFermeture"]["valueDate"] == "2025-03-17"
    assert closing["motifFermeture"]["valueCodeableConcept"]["coding"][0]["code"] == "DECES"
    assert closing["raisonFermeture"]["valueString"] == "Patient décédé"


@pytest.mark.parametrize(
    ("params", "status_code", "code"),
    [
        ({}, 400, "dmp-status-identifier-required"),
        ({"identifier": "urn:oid:1.2.250.1.213.1.4.10|248039263001065"}, 422, "ins-key-mismatch"),
        ({"identifier": f"urn:oid:1.2.3|{INS}"}, 422, "ins-oid-not-allowed"),
        ({"identifier": INS}, 422, "ins-oid-not-allowed"),
        ({"identifier": "urn:oid:1.2.250.1.213.1.4.10|12345"}, 422, "ins-malformed"),
        ({"identifier": f"{TOKEN},{TOKEN}"}, 400, "dmp-status-identifier-required"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    facade: Facade, params: dict[str, str], status_code: int, code: str
) -> None:
    r = facade.client.get("/fhir/Patient", params=params)

    assert r.status_code == status_code, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert (PROBLEM, code) in outcome_codes(outcome)
    assert outcome["issue"][0]["expression"] == ["Patient.identifier"]
    assert facade.inbox() == []


def test_unknown_parameters_are_refused_when_strict_and_reported_when_lenient(facade: Facade) -> None:
    strict = facade.client.get(
        "/fhir/Patient", params={"identifier": TOKEN, "name": "x"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert (PROBLEM, "search-parameter-unknown") in outcome_codes(strict.json())
    assert facade.inbox() == []

    lenient = facade.client.get("/fhir/Patient", params={"identifier": TOKEN, "name": "x"})
    assert lenient.status_code == 200 and lenient.json()["total"] == 1
    outcome = lenient.json()["entry"][-1]["resource"]
    assert (PROBLEM, "search-parameter-unknown") in outcome_codes(outcome)
    assert outcome["issue"][0]["severity"] == "warning" and outcome["issue"][0]["expression"] == ["name"]


def test_the_dmps_own_rights_matrix_refusing_is_a_403(facade: Facade) -> None:
    mode = facade.runtime.settings.vihf.auth_mode  # the demo settings run in AIR
    facade.simulator.simulator.config.rights[mode] = frozenset()  # type: ignore[index]
    r = status(facade)

    assert r.status_code == 403, r.text
    codes = outcome_codes(r.json())
    assert (PROBLEM, "dmp-access-denied") in codes
    assert ("urn:hl7-org:v3:acknowledgementDetail", "DMPAccessDenied") in codes
    assert ("urn:oid:2.16.840.1.113883.5.18", "AR") in codes


def _checking(settings: Settings) -> None:
    settings.dmp.check_status_before_feeding = True


@pytest.mark.parametrize(("state", "code"), [("closed", "dmp-closed"), ("none", "dmp-absent")])
def test_feeding_a_closed_or_absent_dmp_is_refused_when_the_check_is_on(
    start_facade: Callable[..., Facade], state: str, code: str
) -> None:
    facade = start_facade(configure=_checking)
    patients(facade, {BUNDLE_INS: state})
    r = facade.post(bundle("cr/text-plain-report.json"))

    assert r.status_code == 422, r.text
    assert (PROBLEM, code) in outcome_codes(r.json())
    subject = [e for e in json.loads(bundle("cr/text-plain-report.json"))["entry"]
               if e["resource"]["resourceType"] == "DocumentReference"]  # fmt: skip
    index = json.loads(bundle("cr/text-plain-report.json"))["entry"].index(subject[0])
    assert r.json()["issue"][0]["expression"] == [f"Bundle.entry[{index}].resource.subject"]
    assert facade.simulator.simulator.registry.documents() == []
    assert [PlainRequest.read(p).action for p in facade.inbox()] == ["urn:hl7-org:v3:PRPA_IN201307UV02"]


def test_feeding_an_open_dmp_goes_on_when_the_check_is_on(start_facade: Callable[..., Facade]) -> None:
    facade = start_facade(configure=_checking)
    r = facade.post(bundle("cr/text-plain-report.json"))

    assert r.status_code == 200, r.text
    assert len(facade.simulator.simulator.registry.documents()) >= 1


def test_without_the_check_the_facade_does_not_ask_and_the_dmp_refuses_a_closed_dmp(facade: Facade) -> None:
    patients(facade, {BUNDLE_INS: "closed"})
    r = facade.post(bundle("cr/text-plain-report.json"))

    assert r.status_code == 422, r.text
    assert ("urn:ihe:iti:xds:2007:errorCode", "XDSUnknownPatientId") in outcome_codes(r.json())
    assert "fermé" in r.text
    assert all(b"PRPA_IN201307UV02" not in p.read_bytes() for p in facade.inbox())
    assert facade.simulator.simulator.registry.documents() == []


def test_a_dmp_that_cannot_be_asked_does_not_block_feeding(start_facade: Callable[..., Facade]) -> None:
    def dead_patients_service(settings: Settings) -> None:
        _checking(settings)
        settings.dmp.patients_url = "https://127.0.0.1:9/si-dmp-server/v2/services/patients"  # nothing listens

    facade = start_facade(configure=dead_patients_service)
    r = facade.post(bundle("cr/text-plain-report.json"))
    assert r.status_code == 200, r.text
    assert len(facade.simulator.simulator.registry.documents()) >= 1


def test_the_simulator_refuses_a_query_for_an_ins_with_a_wrong_key_as_qe(facade: Facade) -> None:
    """The DMP's own check, reached only by a client that skips the facade's (the facade refuses it first)."""
    service = facade.runtime.patient_status()
    body = build_request("248039263001065", TEST_OID, sender=service.sender, now=service.now())
    answer = facade.runtime.dmp_client.call(
        DmpService.PATIENTS, TD02_ACTION, [body], patient_ins_cx=ins_cx(INS, TEST_OID)
    )
    with pytest.raises(RemoteRejectionError) as caught:
        check_hl7v3_answer(answer.payload)
    assert caught.value.problem.spec.code == "dmp-query-refused"
    assert "clé de contrôle" in caught.value.issues[0].message


def test_an_iti105_publish_to_a_closed_dmp_points_at_the_document_reference_subject(
    start_facade: Callable[..., Facade],
) -> None:
    facade = start_facade(configure=_checking)
    patients(facade, {BUNDLE_INS: "closed"})
    r = facade.post(bundle("iti105/simplified-publish.json"), path="/fhir/DocumentReference")

    assert r.status_code == 422, r.text
    assert (PROBLEM, "dmp-closed") in outcome_codes(r.json())
    assert r.json()["issue"][0]["expression"] == ["DocumentReference.subject"]
