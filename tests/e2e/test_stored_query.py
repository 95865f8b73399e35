"""ITI-18 end to end: documents fed through the facade are found again in the simulated DMP registry with
FindDocuments / GetDocuments, over real mutual TLS, each query with its own signed VIHF; the bodies the simulator
received and what it answered pass the kit's ebRS XSDs."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from facade import xmldoc
from facade.dmp.client import DmpService
from facade.dmp.stored_query import (
    ITI18_ACTION,
    FindCriteria,
    ReturnType,
    build_find_documents,
    find_documents,
    get_documents,
    read_query_response,
)
from facade.errors import RemoteRejectionError
from facade.model.document import Code
from facade.model.identifiers import nir_key
from facade.settings import Settings
from facade.simulator.registry import DEPRECATED
from facade.xds.codes import AvailabilityStatus
from facade.xds.error_mapping import XDS_ERROR_SYSTEM

from .conftest import Facade, bundle

TWO_DOCUMENTS = "multi/two-documents.json"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RPLC_TARGET = "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000021"  # the entry replacement/rplc.json replaces


def _air(settings: Settings) -> None:
    settings.vihf.auth_mode = "INDIRECTE_RENFORCEE"  # the simulator's matrix opens TD3.1a to AIR


def _indirect(settings: Settings) -> None:
    settings.vihf.auth_mode = "INDIRECTE"  # the production default (the demo is AIR)


def _fed(facade: Facade, name: str = TWO_DOCUMENTS) -> tuple[str, list[str]]:
    """Post a bundle; the patient's INS CX and the uniqueIds of the documents (signature entry excluded)."""
    response = facade.post(bundle(name))
    assert response.status_code == 200, response.text
    docs = [d for d in facade.simulator.simulator.registry.documents() if not d.is_signature]
    return docs[0].patient_id, [d.unique_id for d in docs]


def test_find_documents_returns_what_was_fed_as_the_registry_holds_it(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, unique_ids = _fed(facade)
    stored = {d.unique_id: d for d in facade.simulator.simulator.registry.documents()}

    found = find_documents(facade.runtime.dmp_client, patient, FindCriteria())

    entries = [e for e in found if not e.is_signature]
    assert sorted(e.unique_id for e in entries) == sorted(unique_ids) and len(unique_ids) == 2
    assert len(found) == 3  # the signature entry of the submission is a DocumentEntry too
    for entry in entries:
        assert entry.entry_uuid == stored[entry.unique_id].entry_uuid == entry.logical_id
        assert entry.status == AvailabilityStatus.APPROVED.value and entry.version == "1"
        assert entry.repository_unique_id == "1.2.250.1.213.4.1.1.1.2"
        assert entry.hash == stored[entry.unique_id].hash and entry.size == stored[entry.unique_id].size
        assert entry.type_code is not None and entry.type_code.code == stored[entry.unique_id].type_code
        assert entry.confidentiality and entry.confidentiality[0].system == "2.16.840.1.113883.5.25"
        assert entry.element is not None  # the whole ExtrinsicObject, for ITI-57 copies
        assert entry.element.get("id") == entry.entry_uuid
        for child in entry.element.iter(f"{{{RIM}}}Classification"):
            assert child.get("classifiedObject") == entry.entry_uuid


def test_find_documents_criteria_narrow_the_answer(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    client = facade.runtime.dmp_client
    everything = find_documents(client, patient, FindCriteria())
    first = next(e for e in everything if not e.is_signature)
    assert first.type_code is not None and first.creation_time

    by_type = find_documents(client, patient, FindCriteria(type_codes=(first.type_code,)))
    assert first.entry_uuid in {e.entry_uuid for e in by_type}
    assert all(e.type_code == first.type_code for e in by_type)
    assert (
        find_documents(client, patient, FindCriteria(type_codes=(Code("00000-0", "2.16.840.1.113883.6.1", ""),))) == []
    )
    assert find_documents(client, patient, FindCriteria(creation_time_from="29990101")) == []
    assert len(find_documents(client, patient, FindCriteria(creation_time_to="29990101"))) == len(everything)
    masked = Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13", "")
    expected = sorted(e.entry_uuid for e in everything if any(c.code == "MASQUE_PS" for c in e.confidentiality))
    found = find_documents(client, patient, FindCriteria(confidentiality_codes=(masked,)))
    assert sorted(e.entry_uuid for e in found) == expected and len(expected) < len(everything)
    assert find_documents(client, patient, FindCriteria(statuses=(DEPRECATED,))) == []
    refs = find_documents(client, patient, FindCriteria(return_type=ReturnType.OBJECT_REF))
    assert sorted(r.entry_uuid for r in refs) == sorted(e.entry_uuid for e in everything)
    assert all(r.is_object_ref for r in refs)


def test_get_documents_by_unique_id_in_the_default_indirect_mode(facade: Facade) -> None:
    patient, unique_ids = _fed(facade)

    [entry] = get_documents(facade.runtime.dmp_client, patient, [unique_ids[1]])
    assert not entry.is_signature

    assert entry.unique_id == unique_ids[1] and entry.is_current
    assert get_documents(facade.runtime.dmp_client, patient, ["1.2.250.1.999.404"]) == []
    assert get_documents(facade.runtime.dmp_client, patient, []) == []


def test_get_documents_never_discloses_another_patients_document(facade: Facade) -> None:
    _, unique_ids = _fed(facade)
    body = "1810362906001"
    other = f"{body}{nir_key(body)}^^^&1.2.250.1.213.1.4.10&ISO^NH"  # a valid test INS, not this document's patient

    assert get_documents(facade.runtime.dmp_client, other, unique_ids) == []


def test_the_dmp_refuses_find_documents_to_a_structure_certificate(start_facade: Any) -> None:
    """INDIRECTE: the simulator's own rights matrix closes TD3.1a (the facade's API checks first; this is the DMP).
    The demo settings are AIR (issue 11): this facade is set back to the production default."""
    facade = start_facade(configure=_indirect)
    patient, _ = _fed(facade)

    with pytest.raises(RemoteRejectionError) as caught:
        find_documents(facade.runtime.dmp_client, patient, FindCriteria())

    assert caught.value.http_status == 403 and caught.value.problem.spec.code == "dmp-access-denied"
    assert caught.value.issues[0].codings == ((XDS_ERROR_SYSTEM, "DMPAccessDenied"),)


def test_an_unknown_patient_is_the_dmps_unknown_patient(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    facade.simulator.simulator.script.update_from_json({"unknown_ins": [patient.split("^")[0]]})

    with pytest.raises(RemoteRejectionError) as caught:
        find_documents(facade.runtime.dmp_client, patient, FindCriteria())

    assert caught.value.problem.spec.code == "xds-unknown-patient"


def test_a_replaced_document_is_deprecated_in_the_registry_answer(start_facade: Any) -> None:
    facade = start_facade(configure=_air)
    original = bundle("ldl-ses/pdf-discharge-letter.json").decode()  # as tests/e2e/test_feeding.py: rplc.json's target
    first = facade.post(original.replace("urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000012", RPLC_TARGET).encode())
    assert first.status_code == 200, first.text
    patient = facade.simulator.simulator.registry.documents()[0].patient_id
    response = facade.post(bundle("replacement/rplc.json"))
    assert response.status_code == 200, response.text

    entries = find_documents(
        facade.runtime.dmp_client,
        patient,
        FindCriteria(statuses=(AvailabilityStatus.APPROVED.value, AvailabilityStatus.DEPRECATED.value)),
    )
    by_uuid = {e.entry_uuid: e.status for e in entries if not e.is_signature}
    assert by_uuid[RPLC_TARGET] == AvailabilityStatus.DEPRECATED.value
    assert sorted(by_uuid.values()).count(AvailabilityStatus.APPROVED.value) == 1


def test_the_bodies_exchanged_pass_the_kit_schemas_and_match_the_official_shape(
    start_facade: Any, kit_validator: Any
) -> None:
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    client = facade.runtime.dmp_client
    request = client.request(
        DmpService.REGISTRY, ITI18_ACTION, [build_find_documents(patient, FindCriteria())], patient_ins_cx=patient
    )
    response = client.transports[DmpService.REGISTRY].send(request)
    assert len(read_query_response(response, message_id=request.message_id)) == 3

    raw = facade.inbox()[-1].read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"/si-dmp-server/v2/services/registry" in head.split(b"\r\n", 1)[0]
    envelope = xmldoc.parse(body)
    assert envelope.findtext("{*}Header/{http://www.w3.org/2005/08/addressing}Action") == ITI18_ACTION
    used, errors = kit_validator.validate_xsd(envelope)
    assert "query" in used and errors == []
    assert kit_validator.validate_xsd(xmldoc.parse(response.envelope))[1] == []
    answer = xmldoc.parse(response.envelope)
    assert answer.findtext("{*}Header/{http://www.w3.org/2005/08/addressing}Action") == (
        "urn:ihe:iti:2007:RegistryStoredQueryResponse"
    )
    assert etree.QName(answer.find("{*}Body/*")).localname == "AdhocQueryResponse"  # type: ignore[arg-type]


def test_the_simulators_answer_has_the_shape_of_the_official_td31_response(start_facade: Any, kit_path: Any) -> None:
    official_path = kit_path / "examples" / "dmp" / "TD3.1_recherche_document_response.xml"
    if not official_path.is_file():
        pytest.skip(f"{official_path} absent")
    official = xmldoc.parse(official_path.read_bytes())
    facade = start_facade(configure=_air)
    patient, _ = _fed(facade)
    client = facade.runtime.dmp_client
    request = client.request(
        DmpService.REGISTRY, ITI18_ACTION, [build_find_documents(patient, FindCriteria())], patient_ins_cx=patient
    )
    answer = xmldoc.parse(client.transports[DmpService.REGISTRY].send(request).envelope)

    def header(envelope: etree._Element) -> list[str]:
        return [etree.QName(c).localname for c in envelope.find("{*}Header")]  # type: ignore[union-attr]

    def first_entry(envelope: etree._Element) -> etree._Element:
        found = envelope.find("{*}Body/{*}AdhocQueryResponse/{*}RegistryObjectList/{*}ExtrinsicObject")
        assert found is not None
        return found

    def kinds(el: etree._Element) -> list[str]:
        names = [etree.QName(c).localname for c in el]
        return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]  # runs collapsed

    assert header(answer) == header(official)
    ours_response = answer.find("{*}Body/{*}AdhocQueryResponse")
    theirs_response = official.find("{*}Body/{*}AdhocQueryResponse")
    assert ours_response is not None and theirs_response is not None
    assert sorted(ours_response.attrib) == sorted(theirs_response.attrib)
    ours, theirs = first_entry(answer), first_entry(official)
    assert sorted(ours.attrib) == sorted(theirs.attrib)
    assert kinds(ours) == kinds(theirs)
    slot_names = {s.get("name") for s in ours.findall("{*}Slot")}
    assert {"creationTime", "hash", "size", "repositoryUniqueId", "languageCode"} <= slot_names
