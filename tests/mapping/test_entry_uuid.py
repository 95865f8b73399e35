"""entryUUID (ExtrinsicObject/@id) rule: the official urn:uuid identifier, else derived from the uniqueId; never the
fullUrl, which is unique only inside one transaction (the DMP refuses a second document under a stored entryUUID).
Also: issues of the informational kind have severity ``information``, not ``warning``."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.errors import Problem, ValidationReport
from facade.ids import derived_entry_uuid
from facade.model.document import RenderedDocument
from facade.xds.ebrim import to_registry_object_list

from .conftest import CONFORMANCE, Reject, Run, find, load

DOC = "Bundle.entry[1].resource"
LDL = load(CONFORMANCE / "ldl-ses" / "pdf-discharge-letter.json")
MULTI = load(CONFORMANCE / "multi" / "two-documents.json")
CATALOGUE = sorted((CONFORMANCE / "catalogue").glob("*.json"))
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def ldl() -> dict[str, Any]:
    return copy.deepcopy(LDL)


def doc(bundle: dict[str, Any], i: int = 1) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][i]["resource"]
    return resource


def test_official_urn_uuid_identifier_is_the_entry_uuid_not_the_full_url(run: Run) -> None:
    b = ldl()
    doc(b)["identifier"] = [
        {"use": "secondary", "value": "urn:uuid:99999999-2222-4333-8444-555555555555"},
        {"use": "official", "system": "urn:ietf:rfc:3986", "value": "urn:uuid:6F1C2D3E-AAAA-4C6D-8E7F-00000000ABCD"},
    ]
    (request,) = run(b).submission.documents
    assert request.entry_id == "urn:uuid:6f1c2d3e-aaaa-4c6d-8e7f-00000000abcd"  # lower case, as registries store it
    assert request.fhir_fullurl == b["entry"][1]["fullUrl"] != request.entry_id


def test_without_official_identifier_the_entry_uuid_derives_from_the_unique_id(run: Run) -> None:
    b = ldl()
    doc(b)["identifier"] = [{"use": "usual", "value": "urn:uuid:6f1c2d3e-aaaa-4c6d-8e7f-00000000abcd"}]
    result = run(b)
    (request,) = result.submission.documents
    expected = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, request.document.id)}"
    assert request.entry_id == expected != b["entry"][1]["fullUrl"]
    assert run(b).submission.documents[0].entry_id == expected  # same document, same entryUUID (retry, replay)
    (info,) = [w for w in result.warnings if w.expression == f"{DOC}.identifier"]
    assert info.problem is Problem.INFORMATION and expected in info.message
    assert info.effective_severity == "information" and not info.is_error


def test_bundles_reusing_a_full_url_get_distinct_entry_uuids(run: Run) -> None:
    """The catalogue bundles all use the same DocumentReference fullUrl: as separate submissions to one DMP, their
    DocumentEntries must not share an entryUUID."""
    entries = [run(path).submission.documents[0] for path in CATALOGUE]
    assert len({load(p)["entry"][1]["fullUrl"] for p in CATALOGUE}) == 1
    assert len({e.entry_id for e in entries}) == len(entries)
    assert all(e.entry_id.startswith("urn:uuid:") and e.entry_id != e.fhir_fullurl for e in entries)


def test_malformed_official_urn_uuid_is_a_422(reject: Reject) -> None:
    b = ldl()
    doc(b)["identifier"] = [{"use": "official", "value": "urn:uuid:not-a-uuid"}]
    issue = find(reject(b), "invalid-value", f"{DOC}.identifier[0].value")
    assert "not-a-uuid" in issue.message


def test_other_official_identifier_is_not_taken_for_the_entry_uuid(run: Run) -> None:
    b = ldl()
    doc(b)["identifier"] = [{"use": "official", "value": "urn:oid:1.2.250.1.999.7.7"}]
    (request,) = run(b).submission.documents
    assert request.entry_id == derived_entry_uuid(request.document.id)


def test_two_documents_with_the_same_official_identifier_are_refused(reject: Reject) -> None:
    b = copy.deepcopy(MULTI)
    docs = [i for i, e in enumerate(b["entry"]) if e["resource"]["resourceType"] == "DocumentReference"]
    doc(b, docs[1])["identifier"] = copy.deepcopy(doc(b, docs[0])["identifier"])
    error = reject(b)
    for i in docs:
        assert "used twice" in find(error, "invalid-value", f"Bundle.entry[{i}].resource.identifier").message


def test_a_document_cannot_replace_its_own_entry_uuid(reject: Reject) -> None:
    b = copy.deepcopy(load(CONFORMANCE / "replacement" / "rplc.json"))
    i = next(i for i, e in enumerate(b["entry"]) if e["resource"]["resourceType"] == "DocumentReference")
    old = "urn:uuid:" + doc(b, i)["relatesTo"][0]["target"]["reference"].removeprefix("DocumentReference/")
    for ident in doc(b, i)["identifier"]:
        if ident.get("use") == "official":
            ident["value"] = old
    find(reject(b), "invalid-value", f"Bundle.entry[{i}].resource.identifier")


def test_metadata_extrinsic_object_id_is_the_entry_uuid(run: Run) -> None:
    sub = run(CONFORMANCE / "catalogue" / "vsm.json").submission
    renderer = CdaRenderer(DEFAULT_TEMPLATES_DIR)
    rendered = [RenderedDocument(d, renderer.render(d.document)) for d in sub.documents]
    root = to_registry_object_list(sub, rendered)
    ids = root.xpath("//rim:ExtrinsicObject/@id", namespaces={"rim": RIM})
    assert ids == [sub.documents[0].entry_id]
    targets = root.xpath("//rim:Association/@targetObject", namespaces={"rim": RIM})
    assert sub.documents[0].entry_id in targets and "urn:uuid:00000000-0000-4000-8000-000000000090" not in targets


# --- severities: informational issues are "information" ---


def test_inform_sets_information_whatever_the_problem_severity() -> None:
    report = ValidationReport()
    report.inform(Problem.INFORMATION, expression="X", text="t")
    report.inform(Problem.INVALID_VALUE, expression="Y", element="e", reason="r")
    report.warn(Problem.INFORMATION, expression="Z", text="t")
    assert [i.effective_severity for i in report.issues] == ["information", "information", "warning"]
    assert report.errors == [] and len(report.warnings) == 3
    report.raise_if_errors()  # information never fails a request


def test_generated_ids_and_defaults_are_information_not_warnings(run: Run) -> None:
    b = ldl()
    del doc(b)["masterIdentifier"]
    del doc(b)["authenticator"]
    doc(b)["identifier"] = [i for i in doc(b)["identifier"] if i.get("use") != "official"]
    result = run(b)
    informational = [w for w in result.warnings if w.problem is Problem.INFORMATION]
    expressions = {w.expression for w in informational}
    assert {f"{DOC}.masterIdentifier", f"{DOC}.identifier", f"{DOC}.authenticator"} <= expressions
    assert {w.effective_severity for w in informational} == {"information"}


def test_no_informational_issue_reads_as_a_warning_on_any_example(run: Run) -> None:
    seen = 0
    for path in sorted(CONFORMANCE.glob("*/*.json")):
        for issue in run(path).warnings:
            if issue.problem.spec.issue_type == "informational":
                seen += 1
                assert issue.effective_severity == "information", (path.name, issue.problem, issue.message)
    assert seen >= len(CATALOGUE)  # at least the derived entryUUID of every catalogue example
