"""TD0.2 -> FHIR: the official sample answer as the Patient a client gets (valid R4 resources), a closed DMP, no DMP;
which Accept asks for a Binary."""

from __future__ import annotations

from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from facade.api.patient import DEFAULT_EXTENSION_BASE as EXT
from facade.api.patient import dmp_patient, patient_searchset, wants_binary_resource
from facade.dmp.ins_param import InsParameter
from facade.dmp.patient_status import DmpPatientStatus, parse_answer
from tests.dmp.test_patient_status import sample_body

TEST_OID = "1.2.250.1.213.1.4.10"


def test_the_official_answer_becomes_a_valid_patient(kit_path: Path) -> None:
    status = parse_answer(sample_body(kit_path, "TD0.2_test_existence_response.xml"), "207058575627097", TEST_OID)
    patient = dmp_patient(status)
    Patient.model_validate(patient)
    assert patient["identifier"] == [{"system": f"urn:oid:{TEST_OID}", "value": "207058575627097"}]  # no INS-C
    assert patient["active"] is True
    assert patient["name"] == [{"use": "usual", "family": "patb-quatre", "given": ["LAURENCE"], "prefix": ["M"]}]
    assert patient["telecom"] == [
        {"system": "email", "value": "alain@gmail.com"},
        {"system": "phone", "value": "0102030405", "use": "mobile"},
    ]
    assert patient["gender"] == "male" and patient["birthDate"] == "1907-05-25"
    by_url = {e["url"]: e for e in patient["extension"]}
    assert by_url[EXT + "dmp-medecin-traitant"]["valueBoolean"] is True
    assert by_url[EXT + "dmp-rattachement-mes"]["valueBoolean"] is False
    assert EXT + "dmp-fermeture" not in by_url


def test_a_closed_dmp_and_no_dmp_are_valid_searchsets() -> None:
    query = InsParameter("248039263001064", TEST_OID)
    closed = DmpPatientStatus(query.ins, TEST_OID, exists=True, active=False, closed_on="20240102",
                              closing_reason="DECES", closing_text="décès")  # fmt: skip
    for status, total in ((closed, 1), (DmpPatientStatus(query.ins, TEST_OID, exists=False), 0)):
        bundle = patient_searchset(status, query, "https://f.example/fhir")
        Bundle.model_validate(bundle)
        assert bundle["total"] == total
    patient = patient_searchset(closed, query, "https://f.example/fhir")["entry"][0]["resource"]
    assert patient["active"] is False
    assert patient["extension"][0]["url"] == EXT + "dmp-fermeture"


@pytest.mark.parametrize(
    ("accept", "binary"),
    [("application/fhir+json", True), ("text/xml, application/json;q=0.5", True), ("*/*", False), (None, False),
     ("text/xml", False), ("application/xml", False)],
)  # fmt: skip
def test_only_a_json_accept_asks_for_a_binary(accept: str | None, binary: bool) -> None:
    assert wants_binary_resource(accept) is binary
