"""Issue 10: the facade's document registry, GET DocumentReference/{id}, and replacement as PDSm writes it (naming
the replaced document only by its masterIdentifier, its id or its entryUUID), through the simulator over mutual
TLS. The CDA and the RPLC association are read from the bytes the simulator received (tests/e2e/received.py)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from facade.simulator.registry import APPROVED, DEPRECATED
from tests.e2e.conftest import Facade, bundle
from tests.e2e.received import NS, ReceivedRequest

OLD_UID = "1.2.250.1.999.1.1.100.1"
NEW_UID = "1.2.250.1.999.1.1.100.9"
CDA = {"cda": "urn:hl7-org:v3"}
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


def _minimal_letter() -> dict[str, Any]:
    """The discharge letter with only what PDSm requires of the document's identity: no official entryUUID
    identifier, no set-id identifier, no version extension (the facade chooses them)."""
    request: dict[str, Any] = json.loads(bundle("ldl-ses/pdf-discharge-letter.json"))
    doc = _doc(request)
    del doc["identifier"]
    return request


def _doc(request: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "DocumentReference")


def _replacement(target: dict[str, Any], *, unique_id: str = NEW_UID, code: str = "replaces") -> bytes:
    request = _minimal_letter()
    doc = _doc(request)
    doc["masterIdentifier"]["value"] = f"urn:oid:{unique_id}"
    doc["relatesTo"] = [{"code": code, "target": target}]
    submission_set = request["entry"][0]["resource"]
    submission_set["identifier"] = [
        i if i.get("use") != "usual" else {**i, "value": f"urn:oid:{unique_id}.1"} for i in submission_set["identifier"]
    ]
    return json.dumps(request).encode()


def _by_uid(value: str = OLD_UID) -> dict[str, Any]:
    return {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{value}"}}


def _location(response: Any) -> str:
    locations = [e["response"].get("location", "") for e in response.json()["entry"]]
    return next(loc for loc in locations if loc.startswith("DocumentReference/"))


def _feeds(facade: Facade) -> int:
    """ITI-41 requests the simulator received (a replacement may also ask the registry, GetDocuments: a read)."""
    return sum(1 for p in facade.inbox() if b"/services/repository " in p.read_bytes().split(b"\r\n", 1)[0])


def _get(facade: Facade, location: str) -> dict[str, Any]:
    got = facade.client.get(f"/fhir/{location}")
    assert got.status_code == 200, got.text
    return dict(got.json())


def _cda(facade: Facade, n: int, unique_id: str) -> tuple[ReceivedRequest, etree._Element]:
    received = ReceivedRequest.read(facade.inbox()[n])
    (entry,) = [e for e in received.entries() if e.unique_id == unique_id]
    return received, etree.fromstring(entry.data)


def _problem(response: Any) -> str:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return str(outcome["issue"][0]["details"]["coding"][0]["code"])


def test_replacement_naming_only_the_master_identifier(facade: Facade) -> None:
    first = facade.post(json.dumps(_minimal_letter()).encode())
    assert first.status_code == 200, first.text
    old_location = _location(first)
    old = _get(facade, old_location)
    assert old["status"] == "current" and old["masterIdentifier"]["value"] == f"urn:oid:{OLD_UID}"
    entry_uuid = f"urn:uuid:{old['id']}"
    assert {"use": "official", "system": "urn:ietf:rfc:3986", "value": entry_uuid} in old["identifier"]
    registry = facade.simulator.simulator.registry
    stored = registry.by_unique_id(OLD_UID)
    assert stored is not None and stored.entry_uuid == entry_uuid  # the id is the entryUUID the DMP holds
    _, first_cda = _cda(facade, 0, OLD_UID)
    set_id = first_cda.find("cda:setId", CDA).get("root")  # type: ignore[union-attr]
    assert old["meta"]["versionId"] == "1"

    conditional = f"DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:{OLD_UID}"  # PATCH's conditional form
    second = facade.post(_with_entry(_replacement(_by_uid()), _patch_entry(conditional)))

    assert second.status_code == 200, second.text
    received, cda = _cda(facade, 1, NEW_UID)
    assert cda.find("cda:setId", CDA).get("root") == set_id  # type: ignore[union-attr]
    assert cda.find("cda:versionNumber", CDA).get("value") == "2"  # type: ignore[union-attr]
    parent = cda.find("cda:relatedDocument[@typeCode='RPLC']/cda:parentDocument/cda:id", CDA)
    assert parent is not None and parent.get("root") == OLD_UID
    (association,) = received.envelope.xpath("//rim:Association[@associationType=$t]", namespaces=NS, t=RPLC)
    assert association.get("targetObject") == entry_uuid
    new_stored = registry.by_unique_id(NEW_UID)
    assert new_stored is not None and new_stored.replaces == entry_uuid and new_stored.status == APPROVED
    assert registry.by_unique_id(OLD_UID).status == DEPRECATED  # type: ignore[union-attr]

    new = _get(facade, _location(second))
    assert new["status"] == "current" and new["meta"]["versionId"] == "2"
    assert new["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{old['id']}"
    assert _get(facade, old_location)["status"] == "superseded"


def test_every_reference_form_and_every_refusal(facade: Facade) -> None:
    first = facade.post(json.dumps(_minimal_letter()).encode())
    assert first.status_code == 200, first.text
    old = _get(facade, _location(first))
    sent = _feeds(facade)

    refused = {
        "relation-not-supported": _replacement(_by_uid(), code="transforms"),
        "replacement-same-unique-id": _replacement(_by_uid(), unique_id=OLD_UID),
        "replaced-document-unknown": _replacement(_by_uid("1.2.250.1.999.1.1.100.77")),
        "replaced-document-not-found": _replacement({"reference": f"DocumentReference/{uuid.uuid4()}"}),
    }
    for code, body in refused.items():
        response = facade.post(body)
        assert response.status_code in (404, 409, 422), (code, response.text)
        assert _problem(response) == code
    assert facade.post(_replacement({"reference": f"DocumentReference/{uuid.uuid4()}"})).status_code == 404

    other = json.loads(_replacement({"reference": f"DocumentReference/{old['id']}"}))
    patient = next(e["resource"] for e in other["entry"] if e["resource"]["resourceType"] == "Patient")
    text = json.dumps(other).replace("185076912345673", "279035121518989")
    assert text != json.dumps(other) and patient  # the INS of another (valid) patient
    response = facade.post(text.encode())
    assert response.status_code == 422 and _problem(response) == "replaced-document-other-patient", response.text
    assert _feeds(facade) == sent  # nothing fed (a GetDocuments may have asked the DMP)

    by_entry_uuid = {"identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{old['id']}"}}
    replaced = facade.post(_replacement(by_entry_uuid))
    assert replaced.status_code == 200, replaced.text
    target = {"reference": f"DocumentReference/{old['id']}"}
    again = facade.post(_replacement(target, unique_id="1.2.250.1.999.1.1.100.10"))
    assert again.status_code == 409 and _problem(again) == "replaced-document-superseded", again.text
    assert _feeds(facade) == sent + 1


def test_a_document_read_is_only_its_clients_and_unknown_ids_are_404(facade: Facade) -> None:
    assert facade.client.get(f"/fhir/DocumentReference/{uuid.uuid4()}").status_code == 404
    assert facade.client.get("/fhir/DocumentReference/not-an-id").status_code == 404
    first = facade.post(json.dumps(_minimal_letter()).encode())
    location = _location(first)
    doc = _get(facade, location)
    task = doc["context"]["related"][0]["reference"]
    assert facade.client.get(urlsplit(task).path).status_code == 200  # the Task it links to resolves
    assert _get(facade, f"DocumentReference/{OLD_UID}")["id"] == doc["id"]  # the uniqueId of earlier answers
    assert copy.deepcopy(doc) == _get(facade, location)


def _patch_entry(url: str, value: str = "superseded") -> dict[str, Any]:
    """PDSm-for-DMP's replacement entry (P4D Bundle-example-td2-1-remplacement): a FHIRPath Patch Parameters."""
    operation = [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "DocumentReference.status"},
        {"name": "value", "valueCode": value},
    ]
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": operation}]},
        "request": {"method": "PATCH", "url": url},
    }


def _with_entry(body: bytes, entry: dict[str, Any]) -> bytes:
    request = json.loads(body)
    request["entry"].append(entry)
    return json.dumps(request).encode()


def test_transaction_entries_are_processed_per_method_or_refused_as_a_whole(facade: Facade) -> None:
    first = facade.post(json.dumps(_minimal_letter()).encode())
    assert first.status_code == 200, first.text
    old_id = _get(facade, _location(first))["id"]
    sent = len(facade.inbox())
    replacement = _replacement(_by_uid())

    refused = {
        "DELETE": {"request": {"method": "DELETE", "url": f"DocumentReference/{old_id}"}},
        "PATCH of another document": _patch_entry(f"DocumentReference/{uuid.uuid4()}"),
        "PATCH to another status": _patch_entry(f"DocumentReference/{old_id}", "entered-in-error"),
    }
    for name, entry in refused.items():
        response = facade.post(_with_entry(replacement, entry))
        assert response.status_code == 422, (name, response.text)
        issue = response.json()["issue"][0]
        assert issue["expression"][0].startswith("Bundle.entry[7].request"), (name, issue)
    assert len(facade.inbox()) == sent  # atomic: nothing sent

    response = facade.post(_with_entry(replacement, _patch_entry(f"DocumentReference/{old_id}")))

    assert response.status_code == 200, response.text
    answers = [e["response"] for e in response.json()["entry"]]
    assert answers[7]["status"] == "200 OK" and "location" not in answers[7]  # done by the RPLC, no SOAP call
    assert len(facade.inbox()) == sent + 1
    assert _get(facade, f"DocumentReference/{old_id}")["status"] == "superseded"
    for answer in answers:  # every location resolves
        if "location" in answer:
            _get(facade, answer["location"])
