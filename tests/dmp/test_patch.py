"""A PDSm PATCH -> the one DMP change it asks for: JSON Patch (RFC 6902 and P4D's extension selector) and FHIRPath
Patch, applied to the document as the DMP holds it, then diffed (pdsm4dmp §3.3 items 1-3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facade.dmp.patch import FHIR_JSON, IS_ARCHIVED, JSON_PATCH, ChangeKind, DocumentState, plan_patch
from facade.dmp.rights import Transaction
from facade.errors import FacadeError, Problem
from facade.model import oids

HL7, A07 = oids.HL7_CONFIDENTIALITY, oids.TRE_A07_STATUT_VISIBILITE_DOCUMENT
A07_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
V3 = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CURRENT = DocumentState("current", False, ((HL7, "N", "Normal"),))
RESOURCE: dict[str, Any] = {"resourceType": "DocumentReference", "id": "x", "description": "CR", "status": "current"}


def plan(ops: Any, state: DocumentState = CURRENT, content_type: str = JSON_PATCH) -> Any:
    return plan_patch(json.dumps(ops).encode(), content_type, RESOURCE, state)[0]


def refused(ops: Any, state: DocumentState = CURRENT, content_type: str = JSON_PATCH) -> FacadeError:
    with pytest.raises(FacadeError) as caught:
        plan(ops, state, content_type)
    return caught.value


def label(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def test_delete_is_status_entered_in_error() -> None:
    change = plan([{"op": "replace", "path": "/status", "value": "entered-in-error"}])
    assert change.kind is ChangeKind.DELETE and change.transactions == (Transaction.TD3_3C,)


def test_a_standalone_superseded_is_refused_naming_both_forms() -> None:
    error = refused([{"op": "replace", "path": "/status", "value": "superseded"}])
    assert error.problem is Problem.PATCH_SUPERSEDED_ALONE and error.http_status == 422
    assert "entered-in-error" in str(error) and "relatesTo" in str(error)


def test_archive_with_p4d_extension_selector_and_with_a_plain_pointer() -> None:
    p4d = [{"op": "replace", "path": f"/extension[url:'{IS_ARCHIVED}']/valueBoolean", "value": True}]
    assert plan(p4d).kind is ChangeKind.ARCHIVE
    archived = DocumentState("current", True, CURRENT.confidentiality)
    rfc = [{"op": "replace", "path": "/extension/0/valueBoolean", "value": False}]
    change = plan(rfc, archived)
    assert change.kind is ChangeKind.UNARCHIVE and change.transactions == (Transaction.TD3_3D,)


def test_p4d_replace_of_securitylabel_0_would_drop_the_hl7_code_and_is_refused() -> None:
    error = refused([{"op": "replace", "path": "/securityLabel/0", "value": label(A07_SYSTEM, "MASQUE_PS")}])
    assert error.problem is Problem.PATCH_CONFIDENTIALITY_REQUIRED
    assert error.issues[0].expression == "DocumentReference.securityLabel"


def test_masking_adds_the_flag_and_keeps_the_hl7_code() -> None:
    change = plan([{"op": "add", "path": "/securityLabel/-", "value": label(A07_SYSTEM, "MASQUE_PS")}])
    assert change.kind is ChangeKind.VISIBILITY and change.transactions == (Transaction.TD3_3A,)
    assert [(s, c) for s, c, _ in change.confidentiality] == [(HL7, "N"), (A07, "MASQUE_PS")]


def test_invisible_patient_is_td33b_and_unmasking_removes_the_flag() -> None:
    change = plan([{"op": "add", "path": "/securityLabel/-", "value": label(f"urn:oid:{A07}", "INVISIBLE_PATIENT")}])
    assert change.transactions == (Transaction.TD3_3B,)
    masked = DocumentState("current", False, ((HL7, "N", "Normal"), (A07, "MASQUE_PS", "Masqué")))
    change = plan([{"op": "remove", "path": "/securityLabel/1"}], masked)
    assert change.kind is ChangeKind.VISIBILITY and [c for _, c, _ in change.confidentiality] == ["N"]


def test_a_code_outside_jdv_j58_is_refused() -> None:
    error = refused([{"op": "add", "path": "/securityLabel/-", "value": label(A07_SYSTEM, "MASQUE_PT")}])
    assert error.problem is Problem.PATCH_LABEL_NOT_ALLOWED
    assert error.issues[0].expression == "DocumentReference.securityLabel[1].coding[0]"


def test_other_elements_may_not_be_patched() -> None:
    error = refused([{"op": "replace", "path": "/description", "value": "other"}])
    assert error.problem is Problem.PATCH_ELEMENT_FORBIDDEN and error.http_status == 405
    error = refused([{"op": "add", "path": "/extension/-", "value": {"url": "urn:x", "valueString": "y"}}])
    assert error.problem is Problem.PATCH_ELEMENT_FORBIDDEN


def test_test_operations_may_read_anything_and_a_failed_test_applies_nothing() -> None:
    ops = [
        {"op": "test", "path": "/description", "value": "CR"},
        {"op": "replace", "path": "/status", "value": "entered-in-error"},
    ]
    assert plan(ops).kind is ChangeKind.DELETE
    error = refused([{"op": "test", "path": "/description", "value": "other"}, *ops[1:]])
    assert error.problem is Problem.PATCH_INVALID and error.issues[0].expression == "$[0]"


def test_several_changes_in_one_patch_are_refused() -> None:
    error = refused(
        [
            {"op": "replace", "path": "/extension/0/valueBoolean", "value": True},
            {"op": "add", "path": "/securityLabel/-", "value": label(A07_SYSTEM, "MASQUE_PS")},
        ]
    )
    assert error.problem is Problem.PATCH_SEVERAL_CHANGES and "archive" in str(error)


def test_no_change_is_no_change() -> None:
    assert plan([{"op": "replace", "path": "/status", "value": "current"}]).kind is ChangeKind.NONE


def test_fhirpath_patch_delete_and_archive_and_mask() -> None:
    def params(*ops: list[dict[str, Any]]) -> dict[str, Any]:
        return {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": p} for p in ops]}

    delete = params([{"name": "type", "valueCode": "replace"},
                     {"name": "path", "valueString": "DocumentReference.status"},
                     {"name": "value", "valueCode": "entered-in-error"}])  # fmt: skip
    assert plan(delete, content_type=FHIR_JSON).kind is ChangeKind.DELETE
    archive = params([{"name": "type", "valueCode": "replace"},
                      {"name": "path", "valueString": f"DocumentReference.extension.where(url='{IS_ARCHIVED}').value"},
                      {"name": "value", "valueBoolean": True}])  # fmt: skip
    assert plan(archive, content_type=FHIR_JSON).kind is ChangeKind.ARCHIVE
    mask = params([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "DocumentReference"},
                   {"name": "name", "valueString": "securityLabel"},
                   {"name": "value", "valueCodeableConcept": label(A07_SYSTEM, "MASQUE_PS")}])  # fmt: skip
    assert plan(mask, content_type=FHIR_JSON).kind is ChangeKind.VISIBILITY
    masked = DocumentState("current", False, ((HL7, "N", "Normal"), (A07, "MASQUE_PS", "Masqué")))
    where = "DocumentReference.securityLabel.where(coding.code='MASQUE_PS')"
    unmask = params([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": where}])
    assert [c for _, c, _ in plan(unmask, masked, FHIR_JSON).confidentiality] == ["N"]


def test_fhirpath_patch_of_another_element_is_405_and_xml_patch_is_415() -> None:
    other = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "DocumentReference.description"},
        {"name": "value", "valueString": "x"}]}]}  # fmt: skip
    assert refused(other, content_type=FHIR_JSON).http_status == 405
    assert refused([], content_type="application/xml-patch+xml").problem is Problem.UNSUPPORTED_MEDIA_TYPE


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
OPS = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "x"]),
        "path": st.sampled_from(["/status", "/securityLabel/0", "/securityLabel/-", "/extension/0/valueBoolean",
                                 f"/extension[url:'{IS_ARCHIVED}']/valueBoolean", "/id", "", "/a~1b", "x"]),
    },
    optional={"value": JSON_VALUES, "from": st.sampled_from(["/securityLabel/0", "/status", "/nope"])},
)  # fmt: skip


@settings(max_examples=300, derandomize=True)
@given(ops=st.one_of(st.lists(OPS, max_size=4), JSON_VALUES))
def test_any_json_patch_is_a_change_or_a_4xx(ops: Any) -> None:
    try:
        plan(ops)
    except FacadeError as exc:
        assert 400 <= exc.http_status < 500


def test_p4d_reading_replaces_the_flag_and_keeps_the_hl7_code() -> None:
    """FACADE_DMP__SECURITY_LABEL_PATCH=p4d: P4D's own examples (td3.3a: replace /securityLabel/0 -> MASQUE_PS to
    mask, -> N to unmask) work; the default refuses the first (the HL7 code would be dropped)."""
    mask = [{"op": "replace", "path": "/securityLabel/0", "value": label(A07_SYSTEM, "MASQUE_PS")}]
    masked = plan_patch(json.dumps(mask).encode(), JSON_PATCH, RESOURCE, CURRENT, p4d=True)[0]
    assert masked.kind is ChangeKind.VISIBILITY and [c for _, c, _ in masked.confidentiality] == ["N", "MASQUE_PS"]
    now = DocumentState("current", False, masked.confidentiality)
    unmask = [{"op": "replace", "path": "/securityLabel/0", "value": label(V3, "N")}]
    unmasked = plan_patch(json.dumps(unmask).encode(), JSON_PATCH, RESOURCE, now, p4d=True)[0]
    assert unmasked.kind is ChangeKind.VISIBILITY and [c for _, c, _ in unmasked.confidentiality] == ["N"]
    assert refused(mask).problem is Problem.PATCH_CONFIDENTIALITY_REQUIRED  # strict, the default
