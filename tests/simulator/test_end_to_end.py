"""The facade's own send path against the simulator, over real mutual TLS, with real signatures:
internal model -> CdaRenderer -> xds.ebrim -> LotSigner (XAdES) -> VihfSigner -> envelope/MTOM -> MtlsTransport ->
simulator -> error_mapping. (The FHIR-bundle-to-model step and the outbox are wired by the lead in the API tests.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.credentials import Credential, client_ssl_context
from facade.ids import SequentialOids
from facade.model.document import SignatureDocument
from facade.pki import TestPki, init_test_pki
from facade.simulator import SimulatorServer
from facade.soap.envelope import SoapRequest, build_provide_and_register
from facade.soap.saml import VihfSigner
from facade.soap.xades import LotSigner
from facade.transport.mtls import MtlsTransport
from facade.xds.ebrim import to_submit_objects_request
from facade.xds.error_mapping import RemoteRejectionError, check_response
from tests.cda.model_samples import PATIENT, SITE, document_request, n1_document, rendered, submission

from .builders import default_claims


@pytest.fixture(scope="module")
def site_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return init_test_pki(tmp_path_factory.mktemp("e2e-pki"), structure_id=SITE.id_nat)


@pytest.fixture()
def e2e(site_pki: TestPki, tmp_path: Path) -> Iterator[tuple[SimulatorServer, MtlsTransport]]:
    auth = Credential.load_pem(site_pki.auth_cert, site_pki.auth_key)
    with SimulatorServer(
        tmp_path / "state", ca_cert=site_pki.ca_cert, server_cert=site_pki.server_cert, server_key=site_pki.server_key
    ) as sim:
        with MtlsTransport(sim.url, client_ssl_context(auth, site_pki.ca_cert), read_timeout=10) as transport:
            yield sim, transport


def facade_request(pki: TestPki, url: str, *, tamper: bool = False) -> tuple[SoapRequest, str]:
    sign = Credential.load_pem(pki.sign_cert, pki.sign_key)
    now = datetime.now(UTC)
    root = f"1.2.250.1.999.42.{uuid.uuid4().int % 10**12}"
    doc = n1_document(SequentialOids(root + ".3"))
    req = document_request(doc)
    cda = CdaRenderer(DEFAULT_TEMPLATES_DIR).render(doc)
    sub = submission((req,), unique_id=root + ".4.1")
    xades = LotSigner(sign).sign(
        submission_unique_id=sub.unique_id, documents=[(doc.id, cda)], now=now, signature_id=f"_{uuid.uuid4()}"
    )
    signature = SignatureDocument(entry_id="Signature01", unique_id=root + ".5.1", xml=xades, created=now)
    sent_cda = cda.replace(b"</title>", b" </title>", 1) if tamper else cda
    sor = to_submit_objects_request(sub, [rendered(req, sent_cda)], signature)
    claims = default_claims(structure_id=SITE.id_nat, patient_ins_cx=PATIENT.ins.cx())
    vihf = VihfSigner(sign).sign(claims, now=now, assertion_id=f"_{uuid.uuid4()}")
    request = build_provide_and_register(
        sor,
        [(req.entry_id, sent_cda), (signature.entry_id, xades)],
        vihf,
        to=url,
        message_id=f"urn:uuid:{uuid.uuid4()}",
    )
    return request, doc.id


def test_facade_submission_is_accepted_by_the_simulator(
    e2e: tuple[SimulatorServer, MtlsTransport], site_pki: TestPki
) -> None:
    sim, transport = e2e
    request, doc_id = facade_request(site_pki, sim.url)
    response = transport.send(request)
    assert check_response(response, message_id=request.message_id) == []
    stored = sim.simulator.registry.by_unique_id(doc_id)
    assert stored is not None and stored.format_code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_resending_the_same_submission_is_a_duplicate(
    e2e: tuple[SimulatorServer, MtlsTransport], site_pki: TestPki
) -> None:
    sim, transport = e2e
    request, _ = facade_request(site_pki, sim.url)
    transport.send(request)
    with pytest.raises(RemoteRejectionError) as caught:
        check_response(transport.send(request), message_id=request.message_id)
    codes = [c for i in caught.value.issues for _, c in i.codings]
    assert "XDSDuplicateUniqueIdInRegistry" in codes


def test_tampered_document_is_rejected_end_to_end(
    e2e: tuple[SimulatorServer, MtlsTransport], site_pki: TestPki
) -> None:
    sim, transport = e2e
    request, _ = facade_request(site_pki, sim.url, tamper=True)
    with pytest.raises(RemoteRejectionError) as caught:
        check_response(transport.send(request), message_id=request.message_id)
    assert caught.value.retryable is False
    assert sim.simulator.registry.documents() == []


@pytest.mark.parametrize(
    ("behaviour", "retryable", "code"),
    [
        ("busy", True, "XDSRegistryBusy"),
        ("metadata-error", False, "XDSRegistryMetadataError"),
        ("unknown-patient", False, "XDSUnknownPatientId"),
        ("soap-fault", True, None),
    ],
)
def test_scripted_failures_reach_the_error_mapping(
    e2e: tuple[SimulatorServer, MtlsTransport], site_pki: TestPki, behaviour: str, retryable: bool, code: str | None
) -> None:
    sim, transport = e2e
    sim.script.set([behaviour])
    request, _ = facade_request(site_pki, sim.url)
    with pytest.raises(RemoteRejectionError) as caught:
        check_response(transport.send(request), message_id=request.message_id)
    assert caught.value.retryable is retryable
    if code is not None:
        assert code in [c for i in caught.value.issues for _, c in i.codings]
