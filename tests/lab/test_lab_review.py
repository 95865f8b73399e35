"""Review defects of the lab path (issue 4): wrong-patient results, silent drops, identifier checks, units without
a UCUM code, dataAbsentReason, wrong reference types, bad presentedForm, inverted periods, contentTypeCode 26."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

from facade.cda.render import CdaRenderer
from facade.errors import BundleValidationError, FacadeError, Issue, Problem, ValidationReport
from facade.fhir.parse import parse_request
from facade.fhir.validate import InputPolicy
from facade.ids import SequentialOids
from facade.mapping.bundle_to_submission import MappingResult, to_submission
from facade.mapping.lab import LabMapping, iter_results, to_lab_report
from facade.model.document import BuildContext, Code, Organization, Patient, StructuredBody
from facade.model.identifiers import INS_OIDS_TEST
from facade.model.lab import LabReport, NullValue
from facade.terminology.catalogue import Catalogue
from facade.terminology.tables import Terminology

from .conftest import LabDocumentBuilder, bundle_from, context_for, raw_bundle

SITE = Organization(id_nat="1750712184", name="CH de Démonstration")
NS = {"c": "urn:hl7-org:v3"}
OTHER_PATIENT = {
    "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000099",
    "resource": {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "180012A00100128"}],
        "name": [{"family": "AUTRE", "given": ["PATIENT"]}],
    },
}
OTHER_REF = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000099"}
# glycemie.json: 1 Organization (lab), 4 Practitioner (prescriber), 6 ServiceRequest, 7 Specimen,
# 8 and 9 Observations, 10 DiagnosticReport
LAB, PRESCRIBER, ORDER, SPECIMEN, GLUCOSE, SECOND, REPORT = 1, 4, 6, 7, 8, 9, 10


def _path(index: int) -> str:
    return f"Bundle.entry[{index}].resource"


def _glycemie() -> dict[str, Any]:
    return copy.deepcopy(raw_bundle("glycemie.json"))


def _keys(issues: list[Issue]) -> set[tuple[str, str | None]]:
    return {(i.problem.spec.code, i.expression) for i in issues}


def _map(data: dict[str, Any], catalogue: Catalogue, **kwargs: Any) -> tuple[LabMapping | None, ValidationReport]:
    mc = context_for(bundle_from(data))
    mapping = to_lab_report(mc, catalogue=catalogue, facility_lab=SITE, **kwargs)
    return mapping, mc.report


@pytest.fixture
def submit(terminology: Terminology, ctx: BuildContext) -> Any:
    """The whole input side: parse_request + to_submission (test INS accepted, default contentType 07)."""
    policy = InputPolicy(
        accepted_ins_oids=INS_OIDS_TEST,
        default_content_type=Code("07", "1.2.250.1.213.2.2", "Consultations, soins externes"),
    )

    def _submit(data: dict[str, Any]) -> MappingResult:
        fresh = BuildContext(facility=ctx.facility, now=ctx.now, new_oid=SequentialOids())
        return to_submission(parse_request(json.dumps(data).encode()), fresh, terminology, policy)

    return _submit


@pytest.fixture(scope="session")
def terminology() -> Terminology:
    return Terminology.load()


def _refused(submit: Any, data: dict[str, Any]) -> FacadeError:
    with pytest.raises(BundleValidationError) as info:
        submit(data)
    return info.value


# --- 1. wrong-patient results -------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [REPORT, GLUCOSE, SPECIMEN, ORDER])
def test_a_subject_of_another_patient_is_a_422_at_its_subject(lab_document: LabDocumentBuilder, index: int) -> None:
    data = _glycemie()
    data["entry"].append(OTHER_PATIENT)
    data["entry"][index]["resource"]["subject"] = OTHER_REF
    request, validation = lab_document(bundle_from(data))
    assert request is None
    (issue,) = [i for i in validation.errors if i.problem is Problem.SUBJECT_MISMATCH]
    assert issue.expression == f"{_path(index)}.subject"
    assert issue.problem.spec.http_status == 422 and issue.problem.spec.issue_type == "business-rule"
    assert "180012A00100128" in issue.message and "279035121518989" in issue.message


def test_a_subject_that_designates_no_patient_is_refused(lab_document: LabDocumentBuilder) -> None:
    data = _glycemie()
    data["entry"][GLUCOSE]["resource"]["subject"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"}
    _, validation = lab_document(bundle_from(data))
    assert (Problem.SUBJECT_MISMATCH.spec.code, f"{_path(GLUCOSE)}.subject") in _keys(validation.errors)


def test_a_result_of_another_patient_refuses_the_whole_submission(submit: Any) -> None:
    data = _glycemie()
    data["entry"].append(OTHER_PATIENT)
    data["entry"][SECOND]["resource"]["subject"] = OTHER_REF
    error = _refused(submit, data)
    assert error.http_status == 422
    assert ("subject-mismatch", f"{_path(SECOND)}.subject") in _keys(error.issues)


def test_same_patient_and_absent_member_subjects_are_accepted(lab_document: LabDocumentBuilder) -> None:
    data = _glycemie()
    del data["entry"][GLUCOSE]["resource"]["subject"]  # the report designates the patient
    request, validation = lab_document(bundle_from(data))
    assert request is not None and not validation.errors


# --- 2. silent drops ----------------------------------------------------------------------------------------
def test_two_reports_without_document_reference_are_refused(submit: Any) -> None:
    data = _glycemie()
    second = copy.deepcopy(data["entry"][REPORT])
    second["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000011"
    second["resource"]["result"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000031"}]
    data["entry"][REPORT]["resource"]["result"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000030"}]
    data["entry"].append(second)
    error = _refused(submit, data)
    issue = next(i for i in error.issues if i.expression == _path(len(data["entry"]) - 1))
    assert issue.problem is Problem.INVALID_VALUE and "one DiagnosticReport per submission" in issue.message


def test_an_observation_no_report_reaches_is_refused_not_dropped(submit: Any) -> None:
    data = _glycemie()
    data["entry"][REPORT]["resource"]["result"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000030"}]
    error = _refused(submit, data)
    issue = next(i for i in error.issues if i.expression == _path(SECOND))
    assert issue.problem is Problem.INVALID_VALUE and "not reached" in issue.message


def test_unreferenced_specimen_is_a_warning_and_never_content(submit: Any) -> None:
    data = _glycemie()
    extra = copy.deepcopy(data["entry"][SPECIMEN])
    extra["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000021"
    data["entry"].append(extra)
    result = submit(data)
    roles = {e.index: e.role for e in result.entries}
    assert roles[len(data["entry"]) - 1] == "unused"
    assert roles[SPECIMEN] == roles[GLUCOSE] == roles[SECOND] == "content"
    assert ("invalid-value", _path(len(data["entry"]) - 1)) in _keys(result.warnings)


def test_document_reference_with_two_reports_must_say_which(submit: Any) -> None:
    data = copy.deepcopy(raw_bundle("pdf-copy.json"))
    reports = [i for i, e in enumerate(data["entry"]) if e["resource"]["resourceType"] == "DiagnosticReport"]
    docref = next(i for i, e in enumerate(data["entry"]) if e["resource"]["resourceType"] == "DocumentReference")
    data["entry"][docref]["resource"].get("context", {}).pop("related", None)
    second = copy.deepcopy(data["entry"][reports[0]])
    second["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000111"
    data["entry"].append(second)
    error = _refused(submit, data)
    assert ("invalid-value", f"{_path(docref)}.context.related") in _keys(error.issues)


# --- 3. identifiers checked as on the level-1 path ----------------------------------------------------------
def test_malformed_lab_structure_id_is_a_422(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][LAB]["resource"]["identifier"][0]["value"] = "1ABC"  # 1 + not a FINESS
    _, validation = _map(data, catalogue)
    assert ("invalid-value", f"{_path(LAB)}.identifier[0].value") in _keys(validation.errors)


def test_malformed_finess_of_a_lab_is_a_422(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][LAB]["resource"]["identifier"][0] = {"system": "https://finess.esante.gouv.fr", "value": "12"}
    _, validation = _map(data, catalogue)
    assert ("invalid-value", f"{_path(LAB)}.identifier[0].value") in _keys(validation.errors)


def test_malformed_prescriber_rpps_is_a_422(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][PRESCRIBER]["resource"]["identifier"][0]["value"] = "81234"  # 8 + not an 11-digit RPPS
    _, validation = _map(data, catalogue)
    assert ("invalid-value", f"{_path(PRESCRIBER)}.identifier[0].value") in _keys(validation.errors)


def test_malformed_biologist_id_is_a_422_without_the_author_mapping(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][2]["resource"]["identifier"][0]["value"] = "0123"  # 0 + not a 9-digit ADELI
    mapping, validation = _map(data, catalogue)
    assert mapping is None
    assert _keys(validation.errors) == {("invalid-value", f"{_path(2)}.identifier[0].value")}


# --- 4. quantities need a UCUM code -------------------------------------------------------------------------
def test_quantity_without_ucum_code_is_a_422_at_its_code(catalogue: Catalogue) -> None:
    data = _glycemie()
    del data["entry"][GLUCOSE]["resource"]["valueQuantity"]["code"]  # "unit": "mmol/L" is display text only
    _, validation = _map(data, catalogue)
    (issue,) = validation.errors
    assert issue.problem is Problem.MISSING_ELEMENT
    assert issue.expression == f"{_path(GLUCOSE)}.valueQuantity.code"


def test_dimensionless_value_with_explicit_unit_one_passes(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][GLUCOSE]["resource"]["valueQuantity"] = {
        "value": 1.2,
        "system": "http://unitsofmeasure.org",
        "code": "1",
    }
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    values = [o.value for ch in mapping.report.chapters for sc in ch.sub_chapters for o in iter_results(sc.results)]
    assert any(getattr(v, "unit", None) == "1" and getattr(v, "value", None) == "1.2" for v in values)


# --- 5. dataAbsentReason, wrong reference types, presentedForm, periods --------------------------------------
def _absent_glucose() -> dict[str, Any]:
    data = _glycemie()
    obs = data["entry"][GLUCOSE]["resource"]
    del obs["valueQuantity"]
    obs["dataAbsentReason"] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason", "code": "not-performed"}],
        "text": "Échantillon hémolysé",
    }
    return data


def test_data_absent_reason_becomes_a_null_flavor_with_its_text(catalogue: Catalogue) -> None:
    mapping, validation = _map(_absent_glucose(), catalogue)
    assert mapping is not None and not validation.errors
    values = [o.value for ch in mapping.report.chapters for sc in ch.sub_chapters for o in iter_results(sc.results)]
    assert NullValue("UNK", "Échantillon hémolysé") in values


def test_data_absent_reason_is_rendered_and_valid(
    lab_document: LabDocumentBuilder,
    lab_renderer: CdaRenderer,
    kit_module: ModuleType,
    kit_validator: Any,
    tmp_path: Path,
) -> None:
    data = _absent_glucose()
    data["entry"][GLUCOSE]["resource"]["dataAbsentReason"]["coding"][0]["code"] = "asked-unknown"
    request, validation = lab_document(bundle_from(data))
    assert request is not None, [i.message for i in validation.errors]
    assert isinstance(request.document.body, StructuredBody) and isinstance(request.document.body.content, LabReport)
    xml = lab_renderer.render(request.document)  # XSD-checked by the renderer
    root = etree.fromstring(xml)
    (value,) = root.xpath("//c:observation/c:value[@nullFlavor]", namespaces=NS)
    assert value.get("nullFlavor") == "ASKU"
    ref = value.find("c:originalText/c:reference", NS).get("value")
    (cell,) = root.xpath(f"//c:content[@ID='{ref[1:]}']", namespaces=NS)
    assert cell.text == "Échantillon hémolysé"
    path = tmp_path / "doc.xml"
    path.write_bytes(xml)
    res = kit_module.validate_file(
        path, kit_validator, doc_type="cr-bio", profiles=["struct-min", "modeles", "modeles-ans", "ihe"]
    )
    errors = [f["text"] for sch in res["schematron"] for f in sch["findings"] if f["error"]]
    assert res["xsd_errors"] == [] and errors == [] and all(not sch.get("fatal") for sch in res["schematron"])


@pytest.mark.parametrize(
    ("index", "element", "target"),
    [(GLUCOSE, "specimen", LAB), (REPORT, "specimen", GLUCOSE), (REPORT, "basedOn", SPECIMEN)],
)
def test_reference_to_the_wrong_resource_type_is_a_warning(
    catalogue: Catalogue, index: int, element: str, target: int
) -> None:
    data = _glycemie()
    ref = {"reference": data["entry"][target]["fullUrl"]}
    data["entry"][index]["resource"][element] = ref if element == "specimen" and index == GLUCOSE else [ref]
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    suffix = "" if index == GLUCOSE else "[0]"
    assert ("invalid-value", f"{_path(index)}.{element}{suffix}.reference") in _keys(validation.warnings)


def test_performer_of_the_wrong_type_is_a_warning(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][REPORT]["resource"]["performer"].append({"reference": data["entry"][SPECIMEN]["fullUrl"]})
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    assert ("invalid-value", f"{_path(REPORT)}.performer[1].reference") in _keys(validation.warnings)


@pytest.mark.parametrize("data", ["@@@@", base64.b64encode(b"<html>not a pdf</html>").decode()])
def test_presented_form_that_is_not_a_pdf_is_a_422(catalogue: Catalogue, data: str) -> None:
    bundle = _glycemie()
    bundle["entry"][REPORT]["resource"]["presentedForm"] = [{"contentType": "application/pdf", "data": data}]
    _, validation = _map(bundle, catalogue)
    assert _keys(validation.errors) == {("invalid-value", f"{_path(REPORT)}.presentedForm[0].data")}


def test_presented_form_pdf_is_kept(catalogue: Catalogue) -> None:
    bundle = _glycemie()
    pdf = b"%PDF-1.4\n%%EOF\n"
    bundle["entry"][REPORT]["resource"]["presentedForm"] = [
        {"contentType": "application/pdf", "data": base64.b64encode(pdf).decode()}
    ]
    mapping, validation = _map(bundle, catalogue)
    assert mapping is not None and not validation.errors and mapping.report.pdf_copy == pdf


@pytest.mark.parametrize(
    ("index", "field", "expression"),
    [
        (REPORT, "effectivePeriod", "effectivePeriod.end"),
        (GLUCOSE, "effectivePeriod", "effectivePeriod.end"),
        (SPECIMEN, "collection", "collection.collectedPeriod.end"),
    ],
)
def test_period_ending_before_it_starts_is_a_422(catalogue: Catalogue, index: int, field: str, expression: str) -> None:
    data = _glycemie()
    res = data["entry"][index]["resource"]
    period = {"start": "2024-01-04T08:00:00+01:00", "end": "2024-01-04T07:00:00+01:00"}
    res.pop("effectiveDateTime", None)
    if field == "collection":
        res["collection"] = {"collectedPeriod": period}
    else:
        res["effectivePeriod"] = period
    _, validation = _map(data, catalogue)
    assert ("invalid-value", f"{_path(index)}.{expression}") in _keys(validation.errors)


def test_report_issued_before_its_effective_time_is_a_422(catalogue: Catalogue) -> None:
    data = _glycemie()
    data["entry"][REPORT]["resource"]["issued"] = "2024-01-04T06:00:00+01:00"  # effective 07:35
    _, validation = _map(data, catalogue)
    assert ("invalid-value", f"{_path(REPORT)}.issued") in _keys(validation.errors)


# --- contentTypeCode of a lab-only submission ---------------------------------------------------------------
def test_lab_only_submission_is_content_type_26(submit: Any) -> None:
    sub = submit(_glycemie()).submission
    assert (sub.content_type.code, sub.content_type.system) == ("26", "1.2.250.1.213.2.2")
    assert sub.content_type.display == "Analyses médicales biologiques"


def test_list_designation_type_still_wins_for_lab_documents(submit: Any) -> None:
    data = copy.deepcopy(raw_bundle("pdf-copy.json"))
    lst = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "List")
    lst["extension"] = [
        {
            "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
            "valueCodeableConcept": {"coding": [{"system": "urn:oid:1.2.250.1.213.2.2", "code": "04"}]},
        }
    ]
    assert submit(data).submission.content_type.code == "04"


def test_patient_fixture_is_the_bundle_patient(patient: Patient) -> None:
    assert patient.ins.value == raw_bundle("glycemie.json")["entry"][0]["resource"]["identifier"][0]["value"]
