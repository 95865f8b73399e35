"""Replacement references completed from the registry (facade/mapping/replacement.py): the PDSm reference forms,
the explicit route kept for documents the facade never saw, and the request otherwise left as posted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from facade.errors import FacadeError, Problem
from facade.mapping.replacement import completed_request
from facade.mapping.versioning import EXT_VERSION_NUMBER, IDENTIFIER_TYPE_SYSTEM, SET_ID_TYPE

UUID = "0c1d2e3f-0000-4000-8000-0000000000aa"


@dataclass(frozen=True)
class Known:
    unique_id: str = "1.2.250.1.999.1.1.100.1"
    entry_uuid: str = f"urn:uuid:{UUID}"
    set_id: str = "1.2.250.1.999.1.1.300.1"
    version: int = 3


def lookup(**by: str) -> Known | None:
    known = Known()
    return known if by in ({"entry_uuid": known.entry_uuid}, {"unique_id": known.unique_id}) else None


def _doc(target: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "relatesTo": [{"code": "replaces", "target": target}], **extra}


def _complete(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(completed_request(json.dumps(doc).encode(), lookup)))


@pytest.mark.parametrize(
    "target",
    [
        {"reference": f"DocumentReference/{UUID}"},
        {"reference": f"DocumentReference/{UUID.upper()}"},
        {"reference": "DocumentReference/1.2.250.1.999.1.1.100.1"},
        {"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.1.100.1"}},
        {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{UUID}"}},
    ],
)
def test_every_pdsm_reference_form_resolves_to_the_registered_document(target: dict[str, Any]) -> None:
    done = _complete(_doc(target))
    assert done["relatesTo"][0]["target"] == {
        "reference": f"DocumentReference/{UUID}",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.1.1.100.1"},
    }
    (set_id,) = done["identifier"]
    assert set_id["type"]["coding"] == [{"system": IDENTIFIER_TYPE_SYSTEM, "code": SET_ID_TYPE}]
    assert set_id["value"] == "urn:oid:1.2.250.1.999.1.1.300.1"
    assert done["extension"] == [{"url": EXT_VERSION_NUMBER, "valuePositiveInt": 4}]


def test_what_the_client_wrote_wins_and_decimals_keep_their_text() -> None:
    version = {"url": EXT_VERSION_NUMBER, "valuePositiveInt": 9}
    body = json.dumps(_doc({"reference": f"DocumentReference/{UUID}"}, extension=[version])).encode()
    body = body[:-1] + b', "x": 1.50, "y": -2.0E+3}'
    out = completed_request(body, lookup)
    assert b'"x": 1.50' in out and b'"y": -2.0E+3' in out
    assert json.loads(out)["extension"] == [version]


def test_unknown_targets_are_refused_with_their_own_codes() -> None:
    with pytest.raises(FacadeError) as missing:
        _complete(_doc({"reference": "DocumentReference/5f1d2e3f-0000-4000-8000-0000000000bb"}))
    assert missing.value.problem is Problem.REPLACED_NOT_FOUND and missing.value.http_status == 404
    assert missing.value.issues[0].expression == "DocumentReference.relatesTo[0].target.reference"
    with pytest.raises(FacadeError) as unknown:
        _complete(_doc({"identifier": {"value": "urn:oid:1.2.250.1.999.1.1.100.77"}}))
    assert unknown.value.problem is Problem.REPLACED_UNKNOWN and unknown.value.http_status == 422


def test_a_document_the_facade_never_saw_keeps_the_explicit_route() -> None:
    set_id = {"type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": SET_ID_TYPE}]}, "value": "urn:oid:1.2.9"}
    target = {
        "reference": "DocumentReference/5f1d2e3f-0000-4000-8000-0000000000bb",
        "identifier": {"value": "urn:oid:1.2.8"},
    }
    body = json.dumps(_doc(target, identifier=[set_id])).encode()
    assert completed_request(body, lookup) is body  # unchanged: the mapping reads the client's ids


def test_requests_without_replacement_or_not_json_are_left_as_posted() -> None:
    for body in (b'{"resourceType": "Bundle", "x": 1.50}', b'{"relatesTo": [', '{"relatesTo": 1}'.encode("utf-16")):
        assert completed_request(body, lookup) is body


def test_a_patch_entry_must_name_the_replaced_document() -> None:
    def bundle(url: str) -> bytes:
        doc = _doc({"identifier": {"value": "urn:oid:1.2.250.1.999.1.1.100.1"}})
        entries = [
            {"resource": doc},
            {"resource": {"resourceType": "Parameters"}, "request": {"method": "PATCH", "url": url}},
        ]
        return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()

    for url in (
        f"DocumentReference/{UUID}",
        "DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.1.1.100.1",
    ):
        completed_request(bundle(url), lookup)
    with pytest.raises(FacadeError) as other:
        completed_request(bundle("DocumentReference/5f1d2e3f-0000-4000-8000-0000000000bb"), lookup)
    assert other.value.issues[0].expression == "Bundle.entry[1].request.url"
