"""FHIR DiagnosticReport/Observations -> LabReport: every mapped element lands where the CR-BIO template expects it."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from facade.errors import BundleValidationError, Problem, ValidationReport
from facade.mapping.lab import (
    LabMapping,
    apply_lab_report,
    find_lab_report,
    to_lab_report,
    ucum_error,
)
from facade.model.document import Code, InstanceId, Organization, StructuredBody
from facade.model.lab import (
    CodedValue,
    IntervalValue,
    LabBattery,
    LabIsolate,
    LabObservation,
    LabReport,
    PhysicalQuantity,
    RatioValue,
    TextValue,
)
from facade.terminology.catalogue import Catalogue

from .conftest import LabDocumentBuilder, bundle_from, context_for, load_bundle, raw_bundle

SITE = Organization(id_nat="1750712184", name="CH de Démonstration")


def _map(data: dict[str, Any], catalogue: Catalogue, **kwargs: Any) -> tuple[LabMapping | None, ValidationReport]:
    mc = context_for(bundle_from(data))
    mapping = to_lab_report(mc, catalogue=catalogue, facility_lab=SITE, **kwargs)
    return mapping, mc.report


def _entry(data: dict[str, Any], uuid_tail: int) -> dict[str, Any]:
    full = f"urn:uuid:00000000-0000-4000-8000-{uuid_tail:012d}"
    return next(e["resource"] for e in data["entry"] if e["fullUrl"] == full)


def _index(data: dict[str, Any], uuid_tail: int) -> int:
    full = f"urn:uuid:00000000-0000-4000-8000-{uuid_tail:012d}"
    return next(i for i, e in enumerate(data["entry"]) if e["fullUrl"] == full)


def test_glycemie_report_maps_every_element(lab_document: LabDocumentBuilder, catalogue: Catalogue) -> None:
    request, validation = lab_document(load_bundle("glycemie.json"))
    assert request is not None and not validation.errors
    doc = request.document
    assert isinstance(doc.body, StructuredBody) and isinstance(doc.body.content, LabReport)
    report = doc.body.content
    # document metadata derived from the DiagnosticReport (no DocumentReference)
    assert (doc.type_code.code, doc.type_code.display) == ("11502-2", "CR d'examens biologiques")
    assert doc.title == "Compte rendu d'examens biologiques"
    assert doc.template == "cr-bio"
    assert [(t.root, t.extension) for t in doc.template_ids] == [
        ("1.3.6.1.4.1.19376.1.3.3", None),
        ("1.2.250.1.213.1.1.1.55", "2024.01"),
    ]
    assert request.class_code.code == "10" and request.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert doc.effective_time.isoformat() == "2024-01-04T16:05:00+01:00"  # DiagnosticReport.issued
    assert doc.authors[0].person is not None and doc.authors[0].person.id_nat == "801234534765"
    assert doc.legal_authenticator.person.family == "CAMPARINI"
    assert doc.order_ids == (InstanceId("1.2.250.1.213.1.1.9", "2024000000001"),)
    assert request.reference_ids == ("2024000000001^^^&1.2.250.1.213.1.1.9&ISO^urn:ihe:iti:xds:2013:order",)
    se = doc.service_event
    assert se.start is not None and se.start.isoformat() == "2024-01-04T07:35:00+01:00"  # effectiveDateTime
    assert se.code is not None and se.code.code == "18719-5"
    assert se.performer.id_nat == "1750712184"  # DiagnosticReport.performer (Organization)
    assert request.fhir_fullurl == "urn:uuid:00000000-0000-4000-8000-000000000010"
    codes = [i.problem for i in validation.issues]
    assert Problem.LAB_METADATA_DERIVED in codes and Problem.LAB_PDF_GENERATED in codes
    # body
    assert [c.code.code for c in report.chapters] == ["18719-5"]
    sub = report.chapters[0].sub_chapters[0]
    assert sub.code.code == "18719-5"  # no finer sub-chapter in the table: the chapter's code
    first = sub.results[0]
    assert isinstance(first, LabObservation)
    assert first.code == Code("14749-6", "2.16.840.1.113883.6.1", "Glucose [Moles/volume] in Serum or Plasma", "LOINC")
    assert first.label == "Glycémie à jeun"  # Observation.code.text
    assert first.value == PhysicalQuantity("4.89", "mmol/L")
    assert first.reference_range is not None
    assert (first.reference_range.low, first.reference_range.high) == (
        PhysicalQuantity("3.89", "mmol/L"),
        PhysicalQuantity("6.0", "mmol/L"),  # the decimal as received (never a float)
    )
    assert first.interpretations == (Code("N", "2.16.840.1.113883.5.83", "Normal"),)
    assert first.effective is not None and first.effective.isoformat() == "2024-01-04T14:55:21+01:00"
    assert first.status == "completed" and first.known_code
    specimen = sub.specimens[0]
    assert specimen.type == Code("BLDV", "2.16.840.1.113883.18.311", "Sang veineux")
    assert specimen.id == InstanceId("1.2.250.1.999.1.1.2", "S-0001")
    assert specimen.collected is not None and specimen.received is not None
    assert report.responsible.person.profession == Code(  # looked up in JDV_J01, as for any author
        "G15_10/SM03", "1.2.250.1.213.1.1.4.5", "Médecin - Biologie médicale (SM)"
    )
    assert report.responsible.accreditation == InstanceId("1.2.250.1.213.6.3.1", "8-1234")
    assert report.ordering_provider is not None and report.ordering_provider.person.id_nat == "810002422979"
    assert report.ordering_provider.time is not None
    assert report.service_event_id == InstanceId("1.2.250.1.999.1.1.3", "DEM-2024-000123")
    assert report.status == "completed" and not report.pdf_supplied
    assert report.pdf_copy.startswith(b"%PDF-1.4") and report.pdf_copy.rstrip().endswith(b"%%EOF")


def test_panels_become_batteries_in_their_chapters(catalogue: Catalogue) -> None:
    mapping, validation = _map(raw_bundle("panels.json"), catalogue)
    assert mapping is not None and not validation.errors
    chapters = {c.code.code: c for c in mapping.report.chapters}
    assert list(chapters) == ["18719-5", "18723-7"]
    assert [s.code.code for s in chapters["18719-5"].sub_chapters] == ["24326-1"]
    assert [s.code.code for s in chapters["18723-7"].sub_chapters] == ["58410-2"]
    iono = chapters["18719-5"].sub_chapters[0].results[0]
    assert isinstance(iono, LabBattery) and iono.code is not None and iono.code.code == "24326-1"
    assert [m.code.code for m in iono.members if isinstance(m, LabObservation)] == [
        "2951-2",
        "2823-3",
        "2075-0",
        "1963-8",
    ]
    potassium = iono.members[1]
    assert isinstance(potassium, LabObservation)
    assert potassium.interpretations[0].code == "H" and potassium.interpretations[0].display == "Anormalement haut"
    nfs = chapters["18723-7"].sub_chapters[0].results[0]
    assert isinstance(nfs, LabBattery) and nfs.notes == ("Contrôle sur lame effectué.",)
    assert mapping.report.notes == ("Hyperkaliémie modérée, à contrôler.",)  # DiagnosticReport.conclusion


def test_coded_value_keeps_code_and_text(catalogue: Catalogue) -> None:
    mapping, validation = _map(raw_bundle("coded-value.json"), catalogue)
    assert mapping is not None and not validation.errors
    result = mapping.report.chapters[0].sub_chapters[0].results[0]
    assert mapping.report.chapters[0].code.code == "18727-8"
    assert isinstance(result, LabObservation)
    assert result.value == CodedValue(Code("260385009", "2.16.840.1.113883.6.96", "Négatif"), "Négatif")
    assert result.interpretations[0].code == "NEG"


def test_microbiology_culture_becomes_an_isolate_with_its_antibiogram(catalogue: Catalogue) -> None:
    mapping, validation = _map(raw_bundle("microbiologie.json"), catalogue)
    assert mapping is not None and not validation.errors
    results = mapping.report.chapters[0].sub_chapters[0].results
    assert isinstance(results[0], LabObservation) and results[0].value == TextValue("Jaune paille")
    isolate = results[2]
    assert isinstance(isolate, LabIsolate)
    assert isolate.organism == Code("112283007", "2.16.840.1.113883.6.96", "Escherichia coli")
    count, antibiogram = isolate.members
    assert isinstance(count, LabObservation) and count.value == PhysicalQuantity("120000", "/mL")
    assert isinstance(antibiogram, LabBattery)
    amox, ampi, _genta = antibiogram.members
    assert isinstance(amox, LabObservation) and isinstance(ampi, LabObservation)
    assert amox.value == IntervalValue(low=PhysicalQuantity("0.512", "ug/mL"), high=None, low_inclusive=True)
    assert ampi.value == IntervalValue(low=None, high=PhysicalQuantity("0.128", "ug/mL"), high_inclusive=False)
    assert amox.interpretations[0].code == "R"


def test_pdf_rendering_from_the_document_reference_is_used(catalogue: Catalogue, lab_document: Any) -> None:
    data = raw_bundle("pdf-copy.json")
    bundle = bundle_from(data)
    docref = _entry(data, 90)
    pdf = base64.b64decode(docref["content"][0]["attachment"]["data"])
    mc = context_for(bundle)
    validation = mc.report
    dr_index = find_lab_report(mc)
    assert dr_index == _index(data, 10)
    mapping = to_lab_report(mc, catalogue=catalogue, facility_lab=SITE, report_index=dr_index, pdf_copy=pdf)
    assert mapping is not None and not validation.errors
    assert mapping.report.pdf_copy == pdf and mapping.report.pdf_supplied
    assert Problem.LAB_PDF_GENERATED not in [i.problem for i in validation.issues]


def test_apply_lab_report_turns_a_mapped_header_into_a_cr_bio(
    lab_document: LabDocumentBuilder, catalogue: Catalogue
) -> None:
    request, _ = lab_document(load_bundle("glycemie.json"))
    assert request is not None
    import dataclasses

    plain = dataclasses.replace(request.document, title="x", template="n1", template_ids=(), order_ids=())
    mapping, _ = _map(raw_bundle("panels.json"), catalogue)
    assert mapping is not None
    doc = apply_lab_report(plain, mapping, catalogue)
    assert doc.template == "cr-bio" and doc.title == "Compte rendu d'examens biologiques"
    assert isinstance(doc.body, StructuredBody) and doc.body.content is mapping.report
    assert doc.order_ids == mapping.order_ids and doc.service_event.performer == mapping.lab


def test_bare_observations_without_report_are_accepted(lab_document: LabDocumentBuilder) -> None:
    request, validation = lab_document(load_bundle("observations-only.json"))
    assert request is not None and not validation.errors
    derived = [i for i in validation.issues if i.problem is Problem.LAB_METADATA_DERIVED]
    assert derived and "the Observations" in derived[0].message
    report = request.document.body.content
    assert isinstance(report, LabReport)
    assert report.responsible.organization.id_nat == "1750712184"  # Observation.performer Organization
    assert {c.code.code for c in report.chapters} == {"18719-5", "18718-7"}


@pytest.mark.parametrize(
    ("unit", "code"),
    [("mEq/L", "mEq/L"), ("µg/mL", "µg/mL"), ("cells/uL", "cells/uL"), ("mmol / L", "mmol / L")],
)
def test_invalid_ucum_unit_is_rejected_with_the_observation_expression(
    lab_document: LabDocumentBuilder, unit: str, code: str
) -> None:
    data = raw_bundle("glycemie.json")
    obs = _entry(data, 30)
    obs["valueQuantity"].update(unit=unit, code=code)
    request, validation = lab_document(bundle_from(data))
    assert request is None
    errors = validation.errors
    assert [e.problem for e in errors] == [Problem.INVALID_UCUM_UNIT]
    assert errors[0].expression == f"Bundle.entry[{_index(data, 30)}].resource.valueQuantity.code"
    with pytest.raises(BundleValidationError) as caught:
        validation.raise_if_errors()
    assert caught.value.http_status == 422


def test_quantity_in_another_unit_system_is_rejected(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    _entry(data, 30)["referenceRange"][0]["low"]["system"] = "http://example.org/units"
    _, validation = _map(data, catalogue)
    assert [e.expression for e in validation.errors] == [
        f"Bundle.entry[{_index(data, 30)}].resource.referenceRange[0].low.system"
    ]


@pytest.mark.parametrize("unit", ["mmol/L", "g/L", "10*9/L", "m[IU]/L", "%", "/mL", "ug/mL", "mL/min/{1.73_m2}", "1"])
def test_valid_ucum_units_pass(unit: str) -> None:
    assert ucum_error(unit) is None


def test_ucum_check_is_cached_per_unit_and_bounded() -> None:
    """Units repeat endlessly: a repeated unit is answered from a bounded cache, the verdict unchanged."""
    assert ucum_error.cache_info().maxsize == 2048
    first = ucum_error("mEq/L")
    hits = ucum_error.cache_info().hits
    assert ucum_error("mEq/L") == first is not None  # still invalid (case-sensitive UCUM)
    assert ucum_error.cache_info().hits == hits + 1


def test_unknown_loinc_code_is_rendered_and_warned_never_dropped(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    _entry(data, 31)["code"]["coding"][0].update(code="99999-9", display="Analyte rare")
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    warnings = [w for w in validation.warnings if w.problem is Problem.UNKNOWN_LAB_CODE]
    assert len(warnings) == 1
    assert warnings[0].expression == f"Bundle.entry[{_index(data, 31)}].resource.code"
    assert warnings[0].effective_severity == "warning"
    results = mapping.report.all_results()
    unknown = [r for r in results if isinstance(r, LabObservation) and not r.known_code]
    assert len(results) == 2 and unknown[0].code.code == "99999-9" and unknown[0].code.display == "Analyte rare"
    assert mapping.report.chapters[0].code.code == "18719-5"  # DiagnosticReport.category CH


def test_unknown_code_without_category_goes_to_the_fallback_chapter(catalogue: Catalogue) -> None:
    data = raw_bundle("coded-value.json")
    _entry(data, 30)["code"]["coding"][0]["code"] = "99999-9"
    _entry(data, 10).pop("category")
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    assert mapping.report.chapters[0].code == catalogue.fallback_chapter.chapter


def test_local_code_is_kept_as_translation_and_warned(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    _entry(data, 31)["code"] = {"coding": [{"system": "urn:oid:1.2.250.1.999.7", "code": "GLY", "display": "Glycémie"}]}
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    local = mapping.report.all_results()[1]
    assert isinstance(local, LabObservation) and local.code == Code("GLY", "1.2.250.1.999.7", "Glycémie")
    assert [w.problem for w in validation.warnings].count(Problem.UNKNOWN_LAB_CODE) == 1


def test_interpretation_outside_the_cisis_value_set_is_rejected(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    _entry(data, 30)["interpretation"][0]["coding"][0]["code"] = "ZZ"
    _, validation = _map(data, catalogue)
    assert [(e.problem, e.expression) for e in validation.errors] == [
        (Problem.UNKNOWN_CODE, f"Bundle.entry[{_index(data, 30)}].resource.interpretation[0]")
    ]


def test_entered_in_error_result_is_rejected(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    _entry(data, 30)["status"] = "entered-in-error"
    _, validation = _map(data, catalogue)
    assert [e.expression for e in validation.errors] == [f"Bundle.entry[{_index(data, 30)}].resource.status"]


def test_ratio_and_range_values(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    o30, o31 = _entry(data, 30), _entry(data, 31)
    o30.pop("valueQuantity")
    o30["valueRatio"] = {
        "numerator": {"value": 1, "system": "http://unitsofmeasure.org", "code": "1"},
        "denominator": {"value": 64, "system": "http://unitsofmeasure.org", "code": "1"},
    }
    o31.pop("valueQuantity")
    o31["valueRange"] = {
        "low": {"value": 2, "system": "http://unitsofmeasure.org", "code": "g/L"},
        "high": {"value": 3, "system": "http://unitsofmeasure.org", "code": "g/L"},
    }
    mapping, validation = _map(data, catalogue)
    assert mapping is not None and not validation.errors
    first, second = mapping.report.all_results()
    assert isinstance(first, LabObservation) and first.value == RatioValue(
        PhysicalQuantity("1"), PhysicalQuantity("64")
    )
    assert isinstance(second, LabObservation)
    assert second.value == IntervalValue(PhysicalQuantity("2", "g/L"), PhysicalQuantity("3", "g/L"))


def test_missing_biologist_is_an_error(catalogue: Catalogue) -> None:
    data = raw_bundle("glycemie.json")
    dr = _entry(data, 10)
    dr.pop("resultsInterpreter")
    dr["performer"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"}]  # the lab only
    mapping, validation = _map(data, catalogue)
    assert mapping is None
    assert [e.problem for e in validation.errors] == [Problem.MISSING_ELEMENT]


def test_has_member_cycle_is_an_error(catalogue: Catalogue) -> None:
    data = raw_bundle("panels.json")
    member = _entry(data, 40)
    member["hasMember"] = [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000030"}]
    _, validation = _map(data, catalogue)
    assert any("cycle" in e.message for e in validation.errors)


def test_observations_of_two_patients_are_refused(catalogue: Catalogue) -> None:
    data = copy.deepcopy(raw_bundle("observations-only.json"))
    _entry(data, 31)["subject"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000099"}
    _, validation = _map(data, catalogue)
    assert any(e.problem is Problem.INVALID_VALUE and "more than one patient" in e.message for e in validation.errors)
