"""Issue 3, happy paths: a FHIR submission goes through the real facade (HTTP API, conversion, XAdES, VIHF, outbox,
mutual TLS) to the DMP simulator, which stores it; the client gets a transaction-response with one entry per request
entry, in order, and the status resource says completed."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from facade.simulator.registry import DEPRECATED

from .conftest import Facade, bundle, outcome_codes

ITI65_BUNDLES = ["ldl-ses/pdf-discharge-letter.json", "multi/two-documents.json"]
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
ORIGINAL_ENTRY_UUID = "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000021"  # the target of replacement/rplc.json


def _unique_ids(resources: list[dict[str, Any]]) -> list[str]:
    return [
        r["masterIdentifier"]["value"].removeprefix("urn:oid:")
        for r in resources
        if r["resourceType"] == "DocumentReference"
    ]


def _assert_transaction_response(request: dict[str, Any], body: dict[str, Any]) -> None:
    assert body["resourceType"] == "Bundle" and body["type"] == "transaction-response"
    entries = request["entry"]
    assert len(body["entry"]) == len(entries)
    for sent, answered in zip(entries, body["entry"], strict=True):
        response = answered["response"]
        rtype, _, rid = response.get("location", "").partition("/")
        assert response["status"] == "201 Created" if rtype else response["status"] in ("201 Created", "200 OK")
        # same order as the request; a DocumentReference, and only it, has a location (GET resolves it)
        assert rtype == ("DocumentReference" if sent["resource"]["resourceType"] == "DocumentReference" else "")
        if rtype:  # the id is the entryUUID's UUID; GET on the location resolves
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", rid)


def _assert_completed(facade: Facade, response: Any) -> None:
    task = facade.task(response)
    assert task["resourceType"] == "Task" and task["status"] == "completed"
    assert task["input"][0] == {"type": {"text": "attempts"}, "valueInteger": 1}  # then the request's traceparent


@pytest.mark.parametrize("name", ITI65_BUNDLES)
def test_iti65_bundle_is_delivered(facade: Facade, name: str) -> None:
    request = json.loads(bundle(name))
    response = facade.post(bundle(name))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    _assert_transaction_response(request, response.json())
    registry = facade.simulator.simulator.registry
    for uid in _unique_ids([e["resource"] for e in request["entry"]]):
        stored = registry.by_unique_id(uid)
        assert stored is not None and stored.status == APPROVED and not stored.is_signature
    signatures = [d for d in registry.documents() if d.is_signature]
    assert len(signatures) == 1  # one XAdES "signature du lot" per submission
    _assert_completed(facade, response)
    assert len(facade.inbox()) == 1


def test_iti105_simplified_publish_is_delivered(facade: Facade) -> None:
    resource = json.loads(bundle("iti105/simplified-publish.json"))
    response = facade.post(bundle("iti105/simplified-publish.json"), path="/fhir/DocumentReference")

    # ITI-105 is a FHIR create: 201 Created + Location of the DocumentReference
    assert response.status_code == 201, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    (uid,) = _unique_ids([resource])
    read = facade.client.get(urlsplit(response.headers["location"]).path)
    assert read.status_code == 200 and read.json()["masterIdentifier"]["value"] == f"urn:oid:{uid}"
    assert facade.simulator.simulator.registry.by_unique_id(uid) is not None
    _assert_completed(facade, response)


def _original_of_the_replacement() -> bytes:
    """The discharge letter, with the DocumentReference fullUrl equal to the entryUUID rplc.json targets (its
    official identifier), so the replaced DocumentEntry is known to the simulator whichever of the two the mapping
    uses as entryUUID."""
    text = bundle("ldl-ses/pdf-discharge-letter.json").decode()
    return text.replace("urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000012", ORIGINAL_ENTRY_UUID).encode()


def test_replacement_of_a_delivered_document(facade: Facade) -> None:
    registry = facade.simulator.simulator.registry
    first = facade.post(_original_of_the_replacement())
    assert first.status_code == 200, first.text
    original = registry.by_unique_id("1.2.250.1.999.1.1.100.1")
    assert original is not None and original.entry_uuid == ORIGINAL_ENTRY_UUID

    request = json.loads(bundle("replacement/rplc.json"))
    response = facade.post(bundle("replacement/rplc.json"))

    assert response.status_code == 200, response.text
    _assert_transaction_response(request, response.json())
    (uid,) = _unique_ids([e["resource"] for e in request["entry"]])
    new = registry.by_unique_id(uid)
    assert new is not None and new.replaces == ORIGINAL_ENTRY_UUID and new.status == APPROVED
    old = registry.by_unique_id("1.2.250.1.999.1.1.100.1")
    assert old is not None and old.status == DEPRECATED
    _assert_completed(facade, response)


def test_replacement_of_a_document_unknown_to_the_dmp_is_refused(facade: Facade) -> None:
    response = facade.post(bundle("replacement/rplc.json"))

    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"
    assert ("urn:ihe:iti:xds:2007:errorCode", "UnresolvedReferenceException") in outcome_codes(outcome)
    assert facade.task(response)["status"] == "failed"
    assert facade.simulator.simulator.registry.documents() == []


def test_replaying_a_delivered_submission_answers_the_same_without_resending(facade: Facade) -> None:
    body = bundle("ldl-ses/pdf-discharge-letter.json")
    first = facade.post(body)
    again = facade.post(body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(facade.inbox()) == 1
