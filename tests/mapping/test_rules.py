"""Mapping rules beyond the happy path: defaults, documented choices, and the checks that guard them."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from facade.errors import Problem

from .conftest import CONFORMANCE, TEST_POLICY, Reject, Run, find, load

DOC = "Bundle.entry[1].resource"
LDL = load(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json")
RPLC = load(CONFORMANCE / "replacement" / "rplc.json")
MULTI = load(CONFORMANCE / "multi" / "two-documents.json")


def ldl() -> dict[str, Any]:
    return copy.deepcopy(LDL)


def doc(bundle: dict[str, Any], i: int = 1) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][i]["resource"]
    return resource


def test_missing_master_identifier_gets_a_generated_oid(run: Run) -> None:
    b = ldl()
    del doc(b)["masterIdentifier"]
    result = run(b)
    document = result.submission.documents[0].document
    assert document.id == "1.2.250.1.999.1.9.1"
    assert document.set_id == "1.2.250.1.999.1.9.2"
    info = [w for w in result.warnings if w.expression == f"{DOC}.masterIdentifier"]
    assert info and info[0].problem is Problem.INFORMATION and "1.2.250.1.999.1.9.1" in info[0].message


def test_uuid_master_identifier_is_refused(reject: Reject) -> None:
    b = ldl()
    doc(b)["masterIdentifier"] = {
        "system": "urn:ietf:rfc:3986",
        "value": "urn:uuid:0c1d2e3f-0000-4000-8000-00000000000a",
    }
    find(reject(b), "invalid-value", f"{DOC}.masterIdentifier.value")


def test_category_that_disagrees_with_the_type_is_a_warning(run: Run) -> None:
    b = ldl()
    doc(b)["category"][0]["coding"][0]["code"] = "11"
    result = run(b)
    assert result.submission.documents[0].class_code.code == "10"
    warning = [w for w in result.warnings if w.expression == f"{DOC}.category[0]"]
    assert warning and warning[0].severity == "warning"


def test_format_that_disagrees_with_the_media_type_is_a_warning(run: Run) -> None:
    b = ldl()
    doc(b)["content"][0]["format"]["code"] = "urn:ihe:iti:xds-sd:text:2008"
    result = run(b)
    assert result.submission.documents[0].format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert any(w.expression == f"{DOC}.content[0].format" for w in result.warnings)


def test_defaults_from_the_facility(run: Run) -> None:
    b = ldl()
    del doc(b)["context"]["facilityType"], doc(b)["context"]["practiceSetting"], doc(b)["securityLabel"]
    # a missing securityLabel means N only where the explicit visibility decision is not required
    implicit = dataclasses.replace(TEST_POLICY, require_confidentiality_label=False)
    document = run(b, implicit).submission.documents[0].document
    assert document.encounter.facility_type.code == "SA01"
    assert document.service_event.practice_setting.code == "ETABLISSEMENT"
    assert document.confidentiality.code == "N"


def test_most_restrictive_confidentiality_wins(run: Run) -> None:
    b = ldl()
    system = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    doc(b)["securityLabel"] = [
        {"coding": [{"system": system, "code": "N"}]},
        {"coding": [{"system": system, "code": "R"}]},
    ]
    request = run(b).submission.documents[0]
    assert request.document.confidentiality.code == "R"
    assert [c.code for c in request.confidentiality_codes] == ["R"]


def test_date_needs_time_and_offset(reject: Reject) -> None:
    b = ldl()
    doc(b)["date"] = "2026-03-02"  # DocumentReference.date is an R4 instant: a structural error
    find(reject(b), "fhir-structure", f"{DOC}.date")
    b = ldl()
    doc(b)["context"]["period"]["start"] = "2026-02-24"  # a valid dateTime, but no CDA effectiveTime
    find(reject(b), "invalid-value", f"{DOC}.context.period.start")


def test_missing_period_start_defaults_to_the_date(run: Run) -> None:
    b = ldl()
    del doc(b)["context"]["period"]
    result = run(b)
    document = result.submission.documents[0].document
    assert document.service_event.start == document.effective_time
    assert any(w.expression == f"{DOC}.context.period.start" for w in result.warnings)


def test_organization_authenticator_falls_back_to_the_first_person_author(run: Run) -> None:
    b = ldl()
    doc(b)["authenticator"] = {"reference": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000002"}
    result = run(b)
    document = result.submission.documents[0].document
    assert document.legal_authenticator.person == document.authors[0].person
    assert any(w.expression == f"{DOC}.authenticator" for w in result.warnings)


def test_device_author(run: Run) -> None:
    b = ldl()
    b["entry"].append(
        {
            "fullUrl": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000099",
            "resource": {
                "resourceType": "Device",
                "identifier": [{"system": "urn:oid:1.2.250.1.999.1.7", "value": "ECG-12"}],
                "deviceName": [{"name": "Cardioscope 3000", "type": "model-name"}],
                "manufacturer": "MedTech",
                "version": [{"value": "4.2"}],
            },
            "request": {"method": "POST", "url": "Device"},
        }
    )
    doc(b)["author"].append({"reference": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000099"})
    authors = run(b).submission.documents[0].document.authors
    assert len(authors) == 2 and authors[1].device is not None
    assert authors[1].device.id_nat == "3690000880/ECG-12"
    assert authors[1].device.model_name == "Cardioscope 3000"
    assert authors[1].device.software_name == "MedTech 4.2"
    assert authors[1].organization.id_nat == "1690000880"


def test_organization_cannot_be_the_author(reject: Reject) -> None:
    b = ldl()
    doc(b)["author"] = [{"reference": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000002"}]
    find(reject(b), "invalid-value", f"{DOC}.author[0].reference")


def test_rpps_only_practitioner_gets_8_plus_rpps(run: Run) -> None:
    b = ldl()
    prat = doc(b, 5)
    prat["identifier"] = [i for i in prat["identifier"] if i["system"] == "https://rpps.esante.gouv.fr"]
    person = run(b).submission.documents[0].document.authors[0].person
    assert person is not None and person.id_nat == "810101201234"


def test_author_organization_without_national_id_falls_back_to_the_site(run: Run) -> None:
    b = ldl()
    doc(b, 4)["identifier"] = [{"system": "urn:oid:1.2.250.1.999.1.5", "value": "UF-4512"}]
    doc(b, 4)["name"] = "Cardiologie UF 4512"
    org = run(b).submission.documents[0].document.authors[0].organization
    assert org.id_nat == "1690000880" and org.name == "CH de Démonstration - Site de Lyon"


def test_patient_without_ipp_uses_the_ins_as_source_patient_id(run: Run) -> None:
    b = ldl()
    doc(b, 3)["identifier"] = doc(b, 3)["identifier"][:1]
    request = run(b).submission.documents[0]
    assert request.source_patient_id == "185076912345673^^^&1.2.250.1.213.1.4.10&ISO^NH"


def test_birth_time_extension(run: Run) -> None:
    b = ldl()
    doc(b, 3)["_birthDate"] = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1985-07-14T06:45:00+02:00",
            }
        ]
    }
    assert run(b).submission.patient.birth_time == "19850714064500"


def test_missing_ins_traits(reject: Reject) -> None:
    b = ldl()
    patient = doc(b, 3)
    patient["name"] = [n for n in patient["name"] if n["use"] != "official"]
    del patient["gender"], patient["birthDate"]
    error = reject(b)
    find(error, "missing-element", "Bundle.entry[3].resource.name")
    find(error, "missing-element", "Bundle.entry[3].resource.gender")
    find(error, "missing-element", "Bundle.entry[3].resource.birthDate")


def test_two_patients_in_one_submission_are_refused(reject: Reject) -> None:
    b = copy.deepcopy(MULTI)
    other = copy.deepcopy(doc(b, 5))
    other["identifier"][0]["value"] = "279035121518989"
    other["id"] = "other"
    b["entry"].append(
        {
            "fullUrl": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000098",
            "resource": other,
            "request": {"method": "POST", "url": "Patient"},
        }
    )
    doc(b, 3)["subject"] = {"reference": "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000098"}
    find(reject(b), "invalid-value", "Bundle.entry[3].resource.subject.reference")


def test_duplicate_unique_id_in_one_submission(reject: Reject) -> None:
    b = copy.deepcopy(MULTI)
    doc(b, 3)["masterIdentifier"] = copy.deepcopy(doc(b, 1)["masterIdentifier"])
    error = reject(b)
    find(error, "invalid-value", "Bundle.entry[1].resource.masterIdentifier.value")
    find(error, "invalid-value", "Bundle.entry[3].resource.masterIdentifier.value")


def test_iti65_without_submission_set(reject: Reject) -> None:
    b = ldl()
    del b["entry"][0]
    find(reject(b), "missing-resource", "Bundle.entry")


def test_unlisted_document_is_a_warning(run: Run) -> None:
    b = ldl()
    doc(b, 0)["entry"] = []
    result = run(b)
    assert any(w.expression == "Bundle.entry[0].resource.entry" for w in result.warnings)


def test_attachment_size_and_hash_must_match(reject: Reject) -> None:
    b = ldl()
    att = doc(b)["content"][0]["attachment"]
    att["size"] += 1
    att["hash"] = "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
    error = reject(b)
    find(error, "invalid-value", f"{DOC}.content[0].attachment.size")
    find(error, "invalid-value", f"{DOC}.content[0].attachment.hash")


def test_inline_attachment_data(run: Run) -> None:
    b = ldl()
    att = doc(b)["content"][0]["attachment"]
    del att["url"]
    att["data"] = b["entry"][2]["resource"]["data"]
    del b["entry"][2]
    result = run(b)
    assert result.submission.documents[0].document.body.data.startswith(b"%PDF-")  # type: ignore[union-attr]


# --- replacement (versioning rule) ---


def rplc() -> dict[str, Any]:
    return copy.deepcopy(RPLC)


def test_replacement_requires_the_set_id(reject: Reject) -> None:
    b = rplc()
    doc(b)["identifier"] = [i for i in doc(b)["identifier"] if "type" not in i]
    find(reject(b), "missing-element", f"{DOC}.identifier")


def test_replacement_requires_the_old_unique_id(reject: Reject) -> None:
    b = rplc()
    del doc(b)["relatesTo"][0]["target"]["identifier"]
    find(reject(b), "missing-element", f"{DOC}.relatesTo[0].target.identifier")


def test_replacement_requires_the_old_entry_uuid(reject: Reject) -> None:
    b = rplc()
    doc(b)["relatesTo"][0]["target"]["reference"] = "DocumentReference/ancienne-lettre"
    find(reject(b), "missing-element", f"{DOC}.relatesTo[0].target.reference")


def test_replacement_without_version_extension_is_version_2(run: Run) -> None:
    b = rplc()
    del doc(b)["extension"]
    assert run(b).submission.documents[0].document.version == 2


def test_replaced_document_in_the_request_lends_set_id_and_version(run: Run) -> None:
    b = rplc()
    new = doc(b)
    new["identifier"] = [i for i in new["identifier"] if "type" not in i]
    del new["extension"]
    old = {
        "resourceType": "DocumentReference",
        "id": "0c1d2e3f-0000-4000-8000-0000000000aa",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.1.100.1"},
        "identifier": [
            {
                "type": {
                    "coding": [{"system": "https://github.com/dmp-facade/dmp-facade/identifier-type", "code": "set-id"}]
                },
                "value": "urn:oid:1.2.250.1.999.1.1.300.7",
            }
        ],
        "extension": [
            {
                "url": "https://github.com/dmp-facade/dmp-facade/StructureDefinition/version-number",
                "valuePositiveInt": 3,
            }
        ],
        "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf"}}],
    }
    new["contained"] = [old]
    new["relatesTo"] = [{"code": "replaces", "target": {"reference": "#0c1d2e3f-0000-4000-8000-0000000000aa"}}]
    request = run(b).submission.documents[0]
    assert request.document.set_id == "1.2.250.1.999.1.1.300.7"
    assert request.document.version == 4
    assert request.document.replaces_id == "1.2.250.1.999.1.1.100.1"
    assert request.replaces_entry_uuid == "urn:uuid:0c1d2e3f-0000-4000-8000-0000000000aa"


def test_other_relations_are_not_supported(reject: Reject) -> None:
    b = rplc()
    doc(b)["relatesTo"][0]["code"] = "appends"
    find(reject(b), "relation-not-supported", f"{DOC}.relatesTo[0].code")
