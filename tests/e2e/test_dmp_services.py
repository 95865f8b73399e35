"""The seam every DMP transaction beyond feeding uses: the facade's DmpClient calling the simulator's plain SOAP
services (registry, patients) over real mutual TLS, each call with its own signed VIHF that the simulator verifies."""

from __future__ import annotations

from lxml import etree

from facade.dmp.client import DmpService, service_url
from facade.simulator.config import PATIENTS_PATH, REGISTRY_PATH
from facade.simulator.services import VerifiedRequest, soap_answer
from facade.soap.envelope import build_response
from tests.e2e.conftest import Facade

INS_CX = "248039263001064^^^&1.2.250.1.213.1.4.10&ISO^NH"
ACTION = "urn:example:Echo"
NS = "urn:example:echo"


def test_service_url_is_derived_from_the_repository_url_unless_configured() -> None:
    repository = "https://dmp.example/si-dmp-server/v2/services/repository"
    assert service_url(repository, DmpService.REGISTRY) == "https://dmp.example/si-dmp-server/v2/services/registry"
    assert service_url(repository, DmpService.PATIENTS, "https://other/patients") == "https://other/patients"


def test_a_registry_call_carries_a_verified_vihf_naming_the_patient(facade: Facade) -> None:
    seen: list[VerifiedRequest] = []

    def echo(request: VerifiedRequest) -> object:
        seen.append(request)
        answer = etree.Element(f"{{{NS}}}Echoed")
        answer.text = request.vihf.value("urn:oasis:names:tc:xacml:2.0:resource:resource-id")
        return soap_answer(build_response(answer, relates_to=request.message_id, message_id="urn:uuid:1"), ACTION, "ok")

    facade.simulator.simulator.services[REGISTRY_PATH].handlers[ACTION] = echo  # type: ignore[assignment]
    question = etree.Element(f"{{{NS}}}Echo")
    response = facade.runtime.dmp_client.call(DmpService.REGISTRY, ACTION, [question], patient_ins_cx=INS_CX)

    assert response.fault is None
    assert response.payload is not None and response.payload.text == INS_CX
    assert len(seen) == 1 and etree.QName(seen[0].payload).localname == "Echo"
    assert response.relates_to == seen[0].message_id


def test_an_action_the_service_does_not_serve_is_a_soap_fault(facade: Facade) -> None:
    response = facade.runtime.dmp_client.call(
        DmpService.PATIENTS, "urn:example:Nothing", [etree.Element("x")], patient_ins_cx=INS_CX
    )
    assert response.fault is not None and response.fault.code == "Sender"
    assert "urn:example:Nothing" in response.fault.reason
    inbox = facade.inbox()
    assert inbox and PATIENTS_PATH.encode() in inbox[-1].read_bytes().split(b"\r\n", 1)[0]
