"""TD3.2 end to end: GET [base]/Binary/<uniqueId>?patient.identifier=<INS> reads a document from the DMP with ITI-43
(plain SOAP 1.2 + its own VIHF to the repository; the simulator answers MTOM from its stored bytes): the raw bytes, or
a Binary for Accept: application/fhir+json. A structure certificate in INDIRECTE mode is refused (403) before anything
is sent; the simulator's own matrix refuses too when the facade is told it may."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lxml import etree

from facade.settings import Settings
from facade.simulator.config import REPOSITORY_PATH

from .conftest import Facade, bundle, outcome_codes
from .plain_soap import PlainRequest

PROBLEM = "https://github.com/dmp-facade/dmp-facade/problem"
XDS = "urn:ihe:iti:xds:2007:errorCode"
PATIENT = "urn:oid:1.2.250.1.213.1.4.10|185076912345673"  # the patient of cr/text-plain-report.json
OTHER_PATIENT = "urn:oid:1.2.250.1.213.1.4.10|248039263001064"
RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"


def air(settings: Settings) -> None:
    settings.vihf.auth_mode = "INDIRECTE_RENFORCEE"  # AIR: TD3.2 open in the facade's and the simulator's matrix


def fed(facade: Facade) -> tuple[str, bytes]:
    """Post the example report; (uniqueId, bytes) of the document the simulator stored."""
    r = facade.post(bundle("cr/text-plain-report.json"))
    assert r.status_code == 200, r.text
    registry = facade.simulator.simulator.registry
    doc = next(d for d in registry.documents() if not d.is_signature)
    content = registry.content(doc.unique_id)
    assert content is not None
    return doc.unique_id, content


def read(facade: Facade, unique_id: str, patient: str = PATIENT, accept: str = "*/*") -> httpx.Response:
    response: httpx.Response = facade.client.get(
        f"/fhir/Binary/{unique_id}", params={"patient.identifier": patient}, headers={"Accept": accept}
    )
    return response


def retrieves(facade: Facade) -> list[PlainRequest]:
    found = []
    for path in facade.inbox():
        if b"RetrieveDocumentSet" in path.read_bytes().split(b"\r\n\r\n", 1)[1][:4000]:
            found.append(PlainRequest.read(path))
    return found


def test_the_document_comes_back_byte_for_byte_and_the_request_is_iti43(
    start_facade: Callable[..., Facade], kit_path: Path
) -> None:
    facade = start_facade(configure=air)
    unique_id, content = fed(facade)

    raw = read(facade, unique_id)
    assert raw.status_code == 200, raw.text
    assert raw.content == content
    assert raw.headers["content-type"].startswith("text/xml")

    binary = read(facade, unique_id, accept="application/fhir+json")
    body = binary.json()
    assert body["resourceType"] == "Binary" and body["contentType"] == "text/xml" and body["id"] == unique_id
    assert base64.b64decode(body["data"]) == content

    sent = retrieves(facade)
    assert len(sent) == 2
    request = sent[-1]
    assert request.request_line.startswith(f"POST {REPOSITORY_PATH} ")
    assert request.action == RETRIEVE
    assert request.headers["content-type"].startswith("application/soap+xml")
    assert request.vihf_value("urn:oasis:names:tc:xacml:2.0:resource:resource-id") == (
        "185076912345673^^^&1.2.250.1.213.1.4.10&ISO^NH"
    )
    schema = etree.XMLSchema(etree.parse(str(kit_path / "schemas/dmp-wsdl/schema/IHE/XDS.b_DocumentRepository.xsd")))
    assert schema.validate(request.payload), schema.error_log
    x = "{urn:ihe:iti:xds-b:2007}"
    assert request.payload.findtext(f"{x}DocumentRequest/{x}RepositoryUniqueId") == "1.2.250.1.213.4.1.1.1.2"
    assert request.payload.findtext(f"{x}DocumentRequest/{x}DocumentUniqueId") == unique_id


def test_a_structure_certificate_in_indirect_mode_is_refused_before_sending(
    start_facade: Callable[..., Facade],
) -> None:
    facade = start_facade(configure=lambda s: setattr(s.vihf, "auth_mode", "INDIRECTE"))  # the demo runs in AIR
    unique_id, _ = fed(facade)
    r = read(facade, unique_id)

    assert r.status_code == 403, r.text
    outcome = r.json()
    assert (PROBLEM, "dmp-rights-forbidden") in outcome_codes(outcome)
    assert "TD3.2" in outcome["issue"][0]["details"]["text"]
    assert retrieves(facade) == []


def test_the_dmps_own_matrix_refuses_when_the_facade_is_told_it_may(start_facade: Callable[..., Facade]) -> None:
    def indirect_granted(settings: Settings) -> None:
        settings.vihf.auth_mode = "INDIRECTE"
        settings.dmp.granted_transactions = ["TD3.2"]

    facade = start_facade(configure=indirect_granted)
    unique_id, _ = fed(facade)
    r = read(facade, unique_id)

    assert r.status_code == 403, r.text
    codes = outcome_codes(r.json())
    assert (PROBLEM, "dmp-access-denied") in codes and (XDS, "DMPAccessDenied") in codes
    assert len(retrieves(facade)) == 1  # it was sent: the DMP judged


@pytest.mark.parametrize("case", ["unknown", "other-patient"])
def test_a_document_the_dmp_does_not_hold_for_this_patient_is_404(
    start_facade: Callable[..., Facade], case: str
) -> None:
    facade = start_facade(configure=air)
    unique_id, _ = fed(facade)
    r = read(facade, unique_id + "9", PATIENT) if case == "unknown" else read(facade, unique_id, OTHER_PATIENT)

    assert r.status_code == 404, r.text
    codes = outcome_codes(r.json())
    assert (PROBLEM, "dmp-document-not-found") in codes and (XDS, "XDSDocumentUniqueIdError") in codes


@pytest.mark.parametrize(
    ("params", "status_code", "code"),
    [
        ({}, 400, "binary-patient-required"),
        ({"patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|185076912345674"}, 422, "ins-key-mismatch"),
    ],
)
def test_a_read_without_a_valid_patient_is_refused(
    start_facade: Callable[..., Facade], params: dict[str, str], status_code: int, code: str
) -> None:
    facade = start_facade(configure=air)
    r = facade.client.get("/fhir/Binary/1.2.3.4", params=params)

    assert r.status_code == status_code, r.text
    assert (PROBLEM, code) in outcome_codes(r.json())
    assert facade.inbox() == []


def test_a_retrieve_does_not_consume_the_feeding_script(start_facade: Callable[..., Facade]) -> None:
    facade = start_facade(configure=air)
    unique_id, content = fed(facade)
    facade.simulator.simulator.script.set(["busy"])

    assert read(facade, unique_id).content == content
    assert [s.behaviour.value for s in facade.simulator.simulator.script.state.queue] == ["busy"]
