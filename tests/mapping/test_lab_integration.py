"""Lab results in the main mapping: a CR-BIO DocumentReference becomes a level-3 CR-BIO, a lab bundle without
DocumentReference derives its document; plus the INS birthplace rule, context.related (referenceIdList) and the
author functionCode. End-to-end cases go through ``Converter.convert`` as the runtime builds it, and the CDA is
checked by the kit (XSD + structuration minimale + volet schematron)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.errors import BundleValidationError
from facade.ids import derived_entry_uuid
from facade.model.document import Code, InstanceId, NonXmlBody, StructuredBody
from facade.model.lab import LabReport
from facade.pipeline import Conversion, Converter
from facade.runtime import Runtime
from facade.settings import Settings

from .conftest import CONFORMANCE, TEST_POLICY, Reject, Run, find, load

LAB_BUNDLES = sorted((CONFORMANCE / "cr-bio").glob("*.json"))
CATALOGUE_BUNDLES = sorted((CONFORMANCE / "catalogue").glob("*.json"))
LDL = CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json"
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
XD_LAB = "urn:ihe:lab:xd-lab:2008"
ORDER = "urn:ihe:iti:xds:2013:order"
ACCESSION = "urn:ihe:iti:xds:2013:accession"
NS = {"c": "urn:hl7-org:v3", "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}


@pytest.fixture(scope="module")
def converter(kit_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Converter:
    """The converter exactly as the runtime wires it, with the kit's full validation."""
    settings = Settings(environment="development", state_dir=tmp_path_factory.mktemp("state"), validation_kit=kit_path)
    settings.input.accept_test_ins = True  # the example bundles use the test INS OID
    return Runtime(settings).converter


def convert(converter: Converter, request: dict[str, Any] | Path) -> Conversion:
    body = request.read_bytes() if isinstance(request, Path) else json.dumps(request).encode("utf-8")
    return converter.convert(body, full=True)


def errors_of(conversion: Conversion) -> list[str]:
    return [f"{i.problem.name}: {i.details}"[:400] for i in conversion.all_issues() if i.is_error]


# --- every lab / catalogue example through the pipeline, checked by the kit ---


@pytest.mark.conformance
@pytest.mark.parametrize("path", LAB_BUNDLES, ids=[p.stem for p in LAB_BUNDLES])
def test_lab_bundle_converts_to_a_valid_cr_bio(converter: Converter, path: Path) -> None:
    conversion = convert(converter, path)
    assert errors_of(conversion) == []
    (rendered,) = conversion.documents
    request = rendered.request
    assert request.document.template == "cr-bio"
    assert request.document.type_code.code == "11502-2"
    assert request.format_code.code == XD_LAB
    assert request.class_code.code == "10"
    root = etree.fromstring(rendered.cda)
    assert root.xpath("count(//c:section[c:templateId/@root='1.2.250.1.213.1.1.2.243'])", namespaces=NS) == 1
    assert root.xpath("string(c:code/@code)", namespaces=NS) == "11502-2"
    assert rendered.request.document.id in conversion.by_document  # the kit ran on this very document


@pytest.mark.conformance
@pytest.mark.parametrize("path", CATALOGUE_BUNDLES, ids=[p.stem for p in CATALOGUE_BUNDLES])
def test_catalogue_bundle_converts_to_a_valid_level1_document(converter: Converter, path: Path) -> None:
    conversion = convert(converter, path)
    assert errors_of(conversion) == []
    (rendered,) = conversion.documents
    # no results in the bundle: even the CR-BIO row stays level 1 (its PDF wrapped as is)
    assert rendered.request.document.template == "n1"
    assert rendered.request.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"


@pytest.mark.conformance
def test_the_kit_check_catches_a_broken_cr_bio(converter: Converter) -> None:
    """Guards the tests above: the same validator reports the INS-traits rule when the COG code is missing."""
    conversion = convert(converter, CONFORMANCE / "cr-bio" / "glycemie.json")
    cda = conversion.documents[0].cda
    assert b"<county>51215</county>" in cda
    assert converter.full_validator is not None
    issues = converter.full_validator.issues(cda.replace(b"<county>51215</county>", b""), "CDA")
    assert any(i.is_error and "INS" in str(i.details.get("reason")) for i in issues)


# --- CR-BIO from a DocumentReference ---


def test_cr_bio_document_reference_gets_the_structured_body_and_keeps_its_pdf(run: Run) -> None:
    path = CONFORMANCE / "cr-bio" / "pdf-copy.json"
    raw = load(path)
    result = run(path)
    (request,) = result.submission.documents
    doc = request.document
    assert doc.id == "1.2.250.1.999.1.1.4.2024.5"  # the DocumentReference's masterIdentifier
    assert doc.template == "cr-bio"
    assert isinstance(doc.body, StructuredBody) and isinstance(doc.body.content, LabReport)
    pdf = base64.b64decode(raw["entry"][1]["resource"]["content"][0]["attachment"]["data"])
    assert doc.body.content.pdf_supplied and doc.body.content.pdf_copy == pdf
    assert request.format_code.code == XD_LAB
    assert [w for w in result.warnings if w.expression == "Bundle.entry[1].resource.content[0].format"] == []
    # order id: context.related -> DiagnosticReport -> basedOn ServiceRequest
    assert InstanceId("1.2.250.1.213.1.1.9", "2024000000005") in doc.order_ids
    assert request.reference_ids == (f"2024000000005^^^&1.2.250.1.213.1.1.9&ISO^{ORDER}",)
    roles = {e.resource_type: e.role for e in result.entries}
    assert roles["DiagnosticReport"] == "content" and roles["Observation"] == "content"
    assert roles["DocumentReference"] == "document"


def test_bad_lab_result_in_a_cr_bio_document_reference_is_a_422(reject: Reject) -> None:
    data = load(CONFORMANCE / "cr-bio" / "pdf-copy.json")
    obs = next(i for i, e in enumerate(data["entry"]) if e["resource"]["resourceType"] == "Observation")
    data["entry"][obs]["resource"]["valueQuantity"]["code"] = "mEq/L"  # UCUM is case-sensitive: meq/L
    error = reject(data)
    assert isinstance(error, BundleValidationError) and error.http_status == 422
    find(error, "invalid-ucum-unit", f"Bundle.entry[{obs}].resource.valueQuantity.code")


def test_cr_bio_document_reference_with_a_cda_is_passed_through_not_rebuilt(run: Run) -> None:
    """Only non-CDA contents are rebuilt: a CR-BIO already built by the lab system is sent as supplied."""
    data = load(CONFORMANCE / "cr-bio" / "pdf-copy.json")
    result = run(data)
    cda_request = result.submission.documents[0]
    cda = CdaRenderer(DEFAULT_TEMPLATES_DIR).render(cda_request.document)
    attachment = data["entry"][1]["resource"]["content"][0]["attachment"]
    attachment.update(contentType="application/hl7-cda+xml", data=base64.b64encode(cda).decode("ascii"))
    attachment.pop("hash", None)
    attachment.pop("size", None)
    data["entry"][1]["resource"]["content"][0]["format"] = {
        "system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
        "code": XD_LAB,
    }
    (request,) = run(data).submission.documents
    assert request.document.passthrough == cda
    assert request.format_code.code == XD_LAB  # from the CDA's templateIds


# --- CR-BIO derived from a DiagnosticReport / Observations (no DocumentReference) ---


@pytest.mark.parametrize(
    ("name", "anchor", "source"),
    [("glycemie", 10, "the DiagnosticReport"), ("observations-only", None, "the Observations")],
)
def test_lab_bundle_without_document_reference_derives_the_document(
    run: Run, name: str, anchor: int | None, source: str
) -> None:
    result = run(CONFORMANCE / "cr-bio" / f"{name}.json")
    sub = result.submission
    (request,) = sub.documents
    assert request.format_code.code == XD_LAB and request.class_code.code == "10"
    # no List: a lab-only submission is TRE_R209 26 (Analyses médicales biologiques), not the configured default
    assert (sub.content_type.code, sub.content_type.system) == ("26", "1.2.250.1.213.2.2")
    assert sub.content_type != TEST_POLICY.default_content_type
    assert sub.patient.ins.value == "279035121518989" and request.document.patient == sub.patient
    assert request.source_patient_id == "1234567890121^^^&1.2.250.1.999.1.1.1&ISO^PI"
    assert sub.author.person is not None and sub.author.person == request.document.authors[0].person
    derived = [w for w in result.warnings if w.problem.spec.code == "lab-metadata-derived"]
    assert len(derived) == 1 and derived[0].details["source"] == source
    assert derived[0].expression == (f"Bundle.entry[{anchor}].resource" if anchor is not None else "Bundle.entry")
    # no DocumentReference: the entryUUID derives from the generated uniqueId, never from a fullUrl
    assert request.entry_id == derived_entry_uuid(request.document.id)
    if anchor is not None:
        ref = result.entries[anchor]
        assert (ref.resource_type, ref.role, ref.unique_id) == ("DiagnosticReport", "document", request.document.id)
        assert request.reference_ids == (f"2024000000001^^^&1.2.250.1.213.1.1.9&ISO^{ORDER}",)


def test_derived_lab_document_reports_patient_and_result_problems_together(reject: Reject) -> None:
    data = load(CONFORMANCE / "cr-bio" / "glycemie.json")
    patient = data["entry"][0]["resource"]
    patient["extension"] = [e for e in patient["extension"] if e["url"] != EXT_BIRTH_PLACE]
    data["entry"][8]["resource"]["valueQuantity"]["code"] = "mmol/litre"
    error = reject(data)
    assert error.http_status == 422
    find(error, "missing-element", f"Bundle.entry[0].resource.extension('{EXT_BIRTH_PLACE}')")
    find(error, "invalid-ucum-unit", "Bundle.entry[8].resource.valueQuantity.code")


def test_responsible_biologist_follows_the_author_rules(reject: Reject) -> None:
    """The biologist (author and legal authenticator of a derived CR-BIO) goes through the main author mapping:
    a speciality outside JDV_J01 is refused at the PractitionerRole, as for any author."""
    data = load(CONFORMANCE / "cr-bio" / "glycemie.json")
    role = data["entry"][3]["resource"]  # DiagnosticReport.resultsInterpreter
    role["specialty"][0]["coding"][0]["code"] = "SM99"
    find(reject(data), "unknown-code", "Bundle.entry[3].resource.specialty[0].coding[0]")


def test_bundle_with_neither_document_reference_nor_results_is_still_refused(reject: Reject) -> None:
    data = load(CONFORMANCE / "cr-bio" / "glycemie.json")
    data["entry"] = [
        e for e in data["entry"] if e["resource"]["resourceType"] not in ("Observation", "DiagnosticReport")
    ]
    error = reject(data)
    find(error, "missing-resource", "Bundle.entry")
    assert {i.details.get("resource") for i in error.issues} >= {"DocumentReference", "SubmissionSet List"}


# --- INS birthplace (COG) is required ---


def test_patient_without_birthplace_is_a_422_at_the_extension(reject: Reject) -> None:
    data = load(LDL)
    patient = data["entry"][3]["resource"]
    patient["extension"] = [e for e in patient["extension"] if e["url"] != EXT_BIRTH_PLACE]
    error = reject(data)
    assert error.http_status == 422
    issue = find(error, "missing-element", f"Bundle.entry[3].resource.extension('{EXT_BIRTH_PLACE}')")
    assert issue.is_error and "COG" in issue.message


def test_birthplace_without_cog_code_is_a_422_at_its_address(reject: Reject) -> None:
    data = load(LDL)
    patient = data["entry"][3]["resource"]
    index = next(i for i, e in enumerate(patient["extension"]) if e["url"] == EXT_BIRTH_PLACE)
    patient["extension"][index]["valueAddress"] = {"city": "Lyon", "country": "FR"}
    error = reject(data)
    find(error, "missing-element", f"Bundle.entry[3].resource.extension[{index}].valueAddress")


def test_birthplace_district_is_accepted_as_the_cog_code(run: Run) -> None:
    data = load(LDL)
    patient = data["entry"][3]["resource"]
    index = next(i for i, e in enumerate(patient["extension"]) if e["url"] == EXT_BIRTH_PLACE)
    patient["extension"][index]["valueAddress"] = {"district": "69123", "city": "Lyon"}
    assert run(data).submission.patient.birthplace_cog == "69123"


# --- context.related -> referenceIdList, author functionCode -> authorRole ---


def _related(system: str, value: str, id_type: str | None) -> dict[str, Any]:
    identifier: dict[str, Any] = {"system": system, "value": value}
    if id_type is not None:
        identifier["type"] = {"coding": [{"code": id_type}]}
    return {"identifier": identifier}


def _ldl_with_related_and_function_code() -> dict[str, Any]:
    data = copy.deepcopy(load(LDL))
    data["entry"][1]["resource"]["context"]["related"] = [
        _related("urn:oid:1.2.250.1.999.1.1.7", "ACC-2026-42", ACCESSION),
        _related("urn:oid:1.2.250.1.999.1.1.8", "CMD-0001", ORDER),
        _related("urn:oid:1.2.250.1.999.1.1.8", "CMD-0002", None),  # no J231 type: not sent
        _related("https://example.org/orders", "CMD-0003", ORDER),  # no OID authority: not sent
    ]
    data["entry"][6]["resource"]["code"] = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationFunction",
                    "code": "ATTPHYS",
                    "display": "attending physician",
                }
            ]
        }
    ]
    return data


def test_context_related_and_role_code_are_mapped(run: Run) -> None:
    result = run(_ldl_with_related_and_function_code())
    (request,) = result.submission.documents
    assert request.reference_ids == (
        f"ACC-2026-42^^^&1.2.250.1.999.1.1.7&ISO^{ACCESSION}",
        f"CMD-0001^^^&1.2.250.1.999.1.1.8&ISO^{ORDER}",
    )
    assert request.document.order_ids == (InstanceId("1.2.250.1.999.1.1.8", "CMD-0001"),)
    skipped = {w.expression for w in result.warnings if w.problem.spec.code == "invalid-value"}
    assert {
        "Bundle.entry[1].resource.context.related[2].identifier",
        "Bundle.entry[1].resource.context.related[3].identifier",
    } <= skipped
    (author,) = request.document.authors
    assert author.function_code == Code(
        "ATTPHYS", "2.16.840.1.113883.5.88", "Référent - Responsable du patient dans la structure de soins"
    )
    assert author.person is not None and author.person.profession is not None  # speciality still from J01


@pytest.mark.conformance
def test_related_ids_and_author_role_reach_the_cda_and_the_metadata(converter: Converter) -> None:
    conversion = convert(converter, _ldl_with_related_and_function_code())
    assert errors_of(conversion) == []  # inFulfillmentOf and functionCode pass structuration minimale
    cda = etree.fromstring(conversion.documents[0].cda)
    assert cda.xpath("string(c:inFulfillmentOf/c:order/c:id/@extension)", namespaces=NS) == "CMD-0001"
    assert cda.xpath("string(c:author/c:functionCode/@code)", namespaces=NS) == "ATTPHYS"
    metadata = conversion.metadata()
    ref_ids = metadata.xpath(
        "//rim:ExtrinsicObject/rim:Slot[@name='urn:ihe:iti:xds:2013:referenceIdList']/rim:ValueList/rim:Value/text()",
        namespaces=NS,
    )
    assert ref_ids == [
        f"ACC-2026-42^^^&1.2.250.1.999.1.1.7&ISO^{ACCESSION}",
        f"CMD-0001^^^&1.2.250.1.999.1.1.8&ISO^{ORDER}",
    ]
    roles = metadata.xpath(
        "//rim:ExtrinsicObject//rim:Slot[@name='authorRole']/rim:ValueList/rim:Value/text()", namespaces=NS
    )
    assert roles == ["Référent - Responsable du patient dans la structure de soins"]


def test_annuaire_split_profession_and_speciality_combine_into_j01(run: Run) -> None:
    """FR Core/Annuaire PractitionerRole: code = TRE_G15 profession, specialty = TRE_R38 -> J01 G15_10/SM26."""
    (request,) = run(CONFORMANCE / "catalogue" / "ldl-ses.json").submission.documents
    person = request.document.authors[0].person
    assert person is not None and person.profession is not None
    assert (person.profession.code, person.profession.system) == ("G15_10/SM26", "1.2.250.1.213.1.1.4.5")
    assert isinstance(request.document.body, NonXmlBody)


def test_speciality_outside_j01_even_when_combined_is_refused(reject: Reject) -> None:
    data = load(CONFORMANCE / "catalogue" / "ldl-ses.json")
    role = next(i for i, e in enumerate(data["entry"]) if e["resource"]["resourceType"] == "PractitionerRole")
    data["entry"][role]["resource"]["specialty"][0]["coding"][0]["code"] = "SM99"
    find(reject(data), "unknown-code", f"Bundle.entry[{role}].resource.specialty[0].coding[0]")
