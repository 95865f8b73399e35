"""ITI-41 processing over real mutual TLS with real signatures (VIHF signed with ORG SIGN, XAdES lot signature):
the happy path, then one broken rule at a time -> the DMP-shaped answer (SOAP Fault or RegistryError)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree

from facade.credentials import Credential
from facade.pki import TestPki, issue_client_certificate
from facade.simulator import SimulatorServer
from facade.soap.envelope import SoapRequest, SoapResponse, parse_response

from .builders import (
    INS,
    INS_OID,
    MEDECIN,
    SPECIALITY_SM26,
    Doc,
    RequestFactory,
    Submission,
    cda,
    default_claims,
    new_oid,
    patient_cx,
)

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def send(client: httpx.Client, server: SimulatorServer, request: SoapRequest) -> tuple[int, SoapResponse]:
    r = client.post(server.url, content=request.body, headers={"content-type": request.content_type})
    return r.status_code, parse_response(r.headers["content-type"], r.content)


def codes(response: SoapResponse) -> list[str]:
    assert response.registry_response is not None, response.envelope
    return [e.error_code for e in response.registry_response.errors]


def assert_fault(status: int, response: SoapResponse, subcode: str | None, reason_part: str) -> None:
    assert response.fault is not None, response.envelope
    assert status == 400
    assert response.fault.code == "Sender"
    assert response.fault.subcodes == ((subcode,) if subcode else ())
    assert reason_part in response.fault.reason
    assert response.action == "http://www.w3.org/2005/08/addressing/soap/fault"


# --- happy path ---


def test_accepted_submission_is_stored_and_answered_success(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = Submission.single(hash="auto", size="auto")
    request = factory.request(sub)
    status, response = send(client, server, request)

    assert status == 200
    assert response.soap_version == "1.2"
    assert response.action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    assert response.relates_to == request.message_id
    assert response.registry_response is not None and response.registry_response.is_success
    assert response.registry_response.errors == ()

    doc = sub.documents[0]
    stored = server.simulator.registry.by_unique_id(doc.unique_id)
    assert stored is not None and stored.status.endswith(":Approved")
    assert stored.hash == hashlib.sha1(doc.data).hexdigest()
    assert server.simulator.registry.content(doc.unique_id) == doc.data  # the exact bytes received
    signature = server.simulator.registry.by_unique_id(sub.signature_unique_id)
    assert signature is not None and signature.is_signature
    listed = client.get(server.base_url + "/_simulator/documents").json()
    assert {d["unique_id"] for d in listed} == {doc.unique_id, sub.signature_unique_id}


def test_duplicate_unique_id_is_detected_across_restarts(
    pki: TestPki, state_dir: Path, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = Submission.single()
    options = {"ca_cert": pki.ca_cert, "server_cert": pki.server_cert, "server_key": pki.server_key}
    with SimulatorServer(state_dir, **options) as sim:  # type: ignore[arg-type]
        status, first = send(client, sim, factory.request(sub))
        assert first.registry_response is not None and first.registry_response.is_success
    with SimulatorServer(state_dir, **options) as sim:  # type: ignore[arg-type]
        again = Submission(documents=sub.documents)  # same document uniqueId, new submission set
        status, second = send(client, sim, factory.request(again))
    assert status == 200
    assert codes(second) == ["XDSDuplicateUniqueIdInRegistry"]
    assert (
        second.registry_response is not None
        and second.registry_response.errors[0].location == sub.documents[0].unique_id
    )


# --- VIHF (SOAP Faults) ---


def test_vihf_signed_with_the_auth_certificate_is_refused(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, auth_credential: Credential
) -> None:
    request = factory.request(assertion=factory.vihf(credential=auth_credential))
    status, response = send(client, server, request)
    assert_fault(
        status,
        response,
        "DMPInvalidCertificate",
        "Le certificat ayant signé le VIHF est invalide : Not a valid signature certificate",
    )
    assert response.relates_to == request.message_id
    assert server.simulator.registry.documents() == []


def test_vihf_signed_by_a_foreign_ca_is_refused(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory, tmp_path: Path
) -> None:
    from facade.pki import init_test_pki

    other = init_test_pki(tmp_path / "other", structure_id="10B0127189")
    foreign = Credential.load_pem(other.sign_cert, other.sign_key)
    status, response = send(client, server, factory.request(assertion=factory.vihf(credential=foreign)))
    assert_fault(status, response, "DMPInvalidCertificate", "Le certificat ayant signé le VIHF est invalide")


def _remove_speciality_and_make_medecin(assertion: etree._Element) -> None:
    role = assertion.find(f".//{{{SAML}}}Attribute[@Name='urn:oasis:names:tc:xacml:2.0:subject:role']")
    assert role is not None
    values = role.findall(f"{{{SAML}}}AttributeValue")
    for v in values[1:]:
        role.remove(v)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda a: a.find(f".//{{{SAML}}}Attribute[@Name='Ressource_URN']/{{{SAML}}}AttributeValue").__setattr__(
                "text", "urn:autre"
            ),
            "Ressource_URN",
        ),
        (
            lambda a: a.find(f".//{{{SAML}}}Attribute[@Name='VIHF_Version']/{{{SAML}}}AttributeValue").__setattr__(
                "text", "2.0"
            ),
            "VIHF_Version",
        ),
        (
            lambda a: a.find(
                f".//{{{SAML}}}Attribute[@Name='Authentification_Mode']/{{{SAML}}}AttributeValue"
            ).__setattr__("text", "DIRECTE"),
            "Mode d'authentification 'DIRECTE'",
        ),
        (
            lambda a: a.find(f".//{{{SAML}}}AttributeStatement").remove(
                a.find(f".//{{{SAML}}}Attribute[@Name='LPS_ID_HOMOLOGATION_DMP']")
            ),
            "LPS_ID_HOMOLOGATION_DMP",
        ),
        (
            lambda a: a.find(f".//{{{SAML}}}Attribute[@Name='Secteur_Activite']/{{{SAML}}}AttributeValue").__setattr__(
                "text", "SA01^1.2.3"
            ),
            "Secteur_Activite",
        ),
    ],
    ids=["ressource-urn", "version", "mode", "lps-homologation", "sector"],
)
def test_vihf_attribute_rules(
    server: SimulatorServer,
    client: httpx.Client,
    factory: RequestFactory,
    mutate: Callable[[etree._Element], None],
    reason: str,
) -> None:
    status, response = send(client, server, factory.request(assertion=factory.vihf(mutate=mutate)))
    assert_fault(status, response, "DMPInvalidVIHF", reason)


def test_medecin_without_speciality_is_refused(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    claims = default_claims(roles=(MEDECIN, SPECIALITY_SM26))
    assertion = factory.vihf(claims, mutate=_remove_speciality_and_make_medecin)
    status, response = send(client, server, factory.request(assertion=assertion))
    assert_fault(status, response, "DMPInvalidVIHF", "Aucune spécialité dans le vihf")


def test_medecin_with_speciality_is_accepted(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    assertion = factory.vihf(default_claims(roles=(MEDECIN, SPECIALITY_SM26)))
    status, response = send(client, server, factory.request(assertion=assertion))
    assert response.registry_response is not None and response.registry_response.is_success


def test_structure_must_match_the_certificates(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    assertion = factory.vihf(default_claims(structure_id="10B0127197"), mutate=lambda a: None)
    status, response = send(client, server, factory.request(assertion=assertion))
    assert_fault(status, response, "DMPInvalidVIHF", "Identifiant_Structure 10B0127197")


def test_tls_client_of_another_structure_is_refused(
    server: SimulatorServer, factory: RequestFactory, pki: TestPki, tmp_path: Path
) -> None:
    from .conftest import client_context

    now = datetime.now(UTC)
    cert, key = issue_client_certificate(
        pki,
        tmp_path / "other",
        profile="auth",
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=1),
        name="other-structure",
        structure_id="10B0127197",
    )
    with httpx.Client(verify=client_context(pki, cert, key)) as other:
        status, response = send(other, server, factory.request())
    assert_fault(status, response, "DMPInvalidVIHF", "PS et Structure non liés")


def test_tampered_vihf_is_refused(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    assertion = factory.vihf()
    value = assertion.find(
        f".//{{{SAML}}}Attribute[@Name='urn:oasis:names:tc:xspa:1.0:subject:subject-id']/{{{SAML}}}AttributeValue"
    )
    assert value is not None
    value.text = "someone else"
    status, response = send(client, server, factory.request(assertion=assertion))
    assert_fault(status, response, "DMPInvalidVIHF", "Signature du VIHF invalide")


def test_expired_vihf_is_refused(server: SimulatorServer, client: httpx.Client, sign_credential: Credential) -> None:
    old = RequestFactory(sign_credential, now=lambda: datetime.now(UTC) - timedelta(hours=3))
    status, response = send(client, server, old.request())
    assert_fault(status, response, "DMPInvalidVIHF", "VIHF expiré")


def test_missing_vihf_is_refused(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    request = factory.request()
    body = request.body.replace(b"<wsse:Security", b"<wsse:NotSecurity").replace(
        b"</wsse:Security>", b"</wsse:NotSecurity>"
    )
    status, response = send(client, server, SoapRequest(request.content_type, body, request.message_id))
    assert_fault(status, response, "DMPInvalidVIHF", "wsse:Security absent")


# --- envelope / WS-A ---


def test_wrong_action_is_a_sender_fault(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    request = factory.request()
    body = request.body.replace(
        b">urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b</",
        b">urn:ihe:iti:xds-b:2007:ProvideAndRegisterDocumentSet-b</",
    )
    status, response = send(client, server, SoapRequest(request.content_type, body, request.message_id))
    assert_fault(status, response, "ActionNotSupported", "non supportée")


def test_missing_message_id_is_a_sender_fault(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    request = factory.request()
    body = request.body.replace(b"<wsa:MessageID>", b"<wsa:Other>").replace(b"</wsa:MessageID>", b"</wsa:Other>")
    status, response = send(client, server, SoapRequest(request.content_type, body, request.message_id))
    assert_fault(status, response, "MessageAddressingHeaderRequired", "wsa:MessageID absent")


def test_doctype_is_refused(server: SimulatorServer, client: httpx.Client) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
    r = client.post(server.url, content=body, headers={"content-type": "application/soap+xml"})
    response = parse_response(r.headers["content-type"], r.content)
    assert r.status_code == 400 and response.fault is not None and "DOCTYPE" in response.fault.reason


# --- metadata rules (RegistryResponse Failure) ---


def failure_codes(client: httpx.Client, server: SimulatorServer, request: SoapRequest) -> list[str]:
    status, response = send(client, server, request)
    assert status == 200
    assert response.registry_response is not None and not response.registry_response.is_success
    assert server.simulator.registry.documents() == []  # nothing stored on failure
    return codes(response)


def test_tampered_document_is_rejected_by_the_lot_signature(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = Submission.single()
    signature = factory.signature_doc(sub)  # signed over the original bytes
    sub.documents[0].data = sub.documents[0].data.replace(b"CR de consultation", b"CR de consultatiON")
    assert failure_codes(client, server, factory.request(sub, signature=signature)) == ["XDSRegistryMetadataError"]


def test_hash_and_size_must_match_the_part(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = Submission.single(hash="0" * 40, size="12")
    assert sorted(failure_codes(client, server, factory.request(sub))) == ["XDSNonIdenticalHash", "XDSNonIdenticalSize"]


def test_codes_outside_the_dmp_value_sets_are_rejected(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = Submission.single(type_code=("27899-4", "2.16.840.1.113883.6.1"), practice=("NOPE", "1.2.250.1.213.1.1.4.9"))
    status, response = send(client, server, factory.request(sub))
    assert codes(response) == ["XDSRegistryMetadataError", "XDSRegistryMetadataError"]
    contexts = " ".join(e.code_context for e in response.registry_response.errors)  # type: ignore[union-attr]
    assert "27899-4" in contexts and "NOPE" in contexts


def test_unique_id_must_be_the_cda_id(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    uid = new_oid()
    sub = Submission(documents=[Doc("Document01", uid, cda(new_oid()))])
    assert failure_codes(client, server, factory.request(sub)) == ["XDSDocumentUniqueIdError"]


def test_cda_id_with_extension_is_rejected(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    uid = new_oid()
    sub = Submission(documents=[Doc("Document01", uid, cda(uid, extension="42"))])
    assert failure_codes(client, server, factory.request(sub)) == ["XDSDocumentUniqueIdError"]


def test_patient_ids_must_agree(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    other = "207058575627097"
    uid = new_oid()
    sub = Submission(documents=[Doc("Document01", uid, cda(uid, ins=other), patient_id=patient_cx(other))])
    assert failure_codes(client, server, factory.request(sub)) == ["XDSPatientIdDoesNotMatch"]


def test_vihf_resource_id_must_be_the_patient(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    assertion = factory.vihf(default_claims(patient_ins_cx=patient_cx("207058575627097")))
    assert failure_codes(client, server, factory.request(assertion=assertion)) == ["XDSPatientIdDoesNotMatch"]


def test_ins_with_a_bad_key_is_an_unknown_patient(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    bad = INS[:-2] + "12"
    uid = new_oid()
    sub = Submission(
        patient_id=patient_cx(bad), documents=[Doc("Document01", uid, cda(uid, ins=bad), patient_id=patient_cx(bad))]
    )
    assertion = factory.vihf(default_claims(patient_ins_cx=patient_cx(bad)), mutate=lambda a: None)
    assert failure_codes(client, server, factory.request(sub, assertion=assertion)) == ["XDSUnknownPatientId"]


def test_configured_unknown_ins_is_an_unknown_patient(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    server.script.set(unknown_ins=[INS])
    assert failure_codes(client, server, factory.request()) == ["XDSUnknownPatientId"]


def test_document_without_metadata_and_metadata_without_document(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    sub = Submission.single()
    request = factory.request(sub, drop_documents={"Document01"}, extra_documents=[("Orphan01", b"<x/>")])
    assert sorted(failure_codes(client, server, request)) == ["XDSMissingDocument", "XDSMissingDocumentMetadata"]


def test_lot_signature_is_mandatory(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    sub = Submission.single()
    sub.with_signature = False
    status, response = send(client, server, factory.request(sub))
    assert codes(response) == ["XDSRegistryMetadataError"]
    assert "Signature du lot absente" in response.registry_response.errors[0].code_context  # type: ignore[union-attr]


def test_replacement_needs_a_known_target_and_deprecates_it(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    unknown = Submission.single()
    unknown.rplc.append(("Document01", "urn:uuid:00000000-0000-4000-8000-000000000000"))
    assert failure_codes(client, server, factory.request(unknown)) == ["UnresolvedReferenceException"]

    first = Submission.single()
    _, ok = send(client, server, factory.request(first))
    assert ok.registry_response is not None and ok.registry_response.is_success
    old = server.simulator.registry.by_unique_id(first.documents[0].unique_id)
    assert old is not None

    replacement = Submission.single()
    replacement.rplc.append(("Document01", old.entry_uuid))
    _, replaced = send(client, server, factory.request(replacement))
    assert replaced.registry_response is not None and replaced.registry_response.is_success
    assert server.simulator.registry.by_entry_uuid(old.entry_uuid).status.endswith(":Deprecated")  # type: ignore[union-attr]
    new = server.simulator.registry.by_unique_id(replacement.documents[0].unique_id)
    assert new is not None and new.replaces == old.entry_uuid


def test_ins_oid_unknown_to_the_dmp(server: SimulatorServer, client: httpx.Client, factory: RequestFactory) -> None:
    cx = patient_cx(INS, "1.2.250.1.999")
    uid = new_oid()
    sub = Submission(patient_id=cx, documents=[Doc("Document01", uid, cda(uid, oid="1.2.250.1.999"), patient_id=cx)])
    assertion = factory.vihf(default_claims(patient_ins_cx=cx), mutate=lambda a: None)
    assert failure_codes(client, server, factory.request(sub, assertion=assertion)) == ["XDSUnknownPatientId"]
    assert INS_OID != "1.2.250.1.999"


# --- answer shapes and robustness ---


def test_mtom_answers_are_read_by_the_facade_parser(
    pki: TestPki, state_dir: Path, client: httpx.Client, factory: RequestFactory
) -> None:
    from facade.simulator import SimulatorConfig

    with SimulatorServer(
        state_dir,
        ca_cert=pki.ca_cert,
        server_cert=pki.server_cert,
        server_key=pki.server_key,
        config=SimulatorConfig(response_mtom=True),
    ) as sim:
        request = factory.request()
        r = client.post(sim.url, content=request.body, headers={"content-type": request.content_type})
        assert r.headers["content-type"].startswith("multipart/related;")
        response = parse_response(r.headers["content-type"], r.content)
        assert response.relates_to == request.message_id
        assert response.registry_response is not None and response.registry_response.is_success


def test_an_internal_error_is_a_receiver_fault(
    pki: TestPki, state_dir: Path, client: httpx.Client, factory: RequestFactory
) -> None:
    def broken(value_set: str, code: str, system: str | None) -> bool:
        raise RuntimeError("boom")

    with SimulatorServer(
        state_dir, ca_cert=pki.ca_cert, server_cert=pki.server_cert, server_key=pki.server_key, code_checker=broken
    ) as sim:
        status, response = send(client, sim, factory.request())
    assert status == 500
    assert response.fault is not None and response.fault.code == "Receiver"


def test_an_entry_uuid_reused_by_another_document_is_a_metadata_error(
    server: SimulatorServer, client: httpx.Client, factory: RequestFactory
) -> None:
    entry_uuid = f"urn:uuid:{uuid.uuid4()}"
    first_uid = new_oid()
    first = Submission(documents=[Doc(entry_uuid, first_uid, cda(first_uid))])
    _, ok = send(client, server, factory.request(first))
    assert ok.registry_response is not None and ok.registry_response.is_success

    other_uid = new_oid()
    reuse = Submission(documents=[Doc(entry_uuid, other_uid, cda(other_uid))])
    status, refused = send(client, server, factory.request(reuse))
    assert status == 200
    assert codes(refused) == ["XDSRegistryMetadataError"]  # final: not an internal (retryable) error
    assert server.simulator.registry.by_unique_id(other_uid) is None

    # the same document again (a retry after an ambiguous attempt) stays a pure duplicate
    again = Submission(documents=[Doc(entry_uuid, first_uid, cda(first_uid))])
    _, duplicate = send(client, server, factory.request(again))
    assert codes(duplicate) == ["XDSDuplicateUniqueIdInRegistry"]
