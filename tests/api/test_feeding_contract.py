"""The HTTP contract of feeding (issues 3 and 5), with the production runtime and real signing credentials; only the
transport (our outer edge) is a function returning real SOAP bytes. Over-the-wire tests with the simulator are in
tests/e2e."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.soap.registry_response import RegistryError
from facade.transport.base import FunctionTransport
from tests.dmp_edge import Handler, registry_answer, sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()
FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
def make_client(tmp_path: Path, _pki) -> Iterator[Callable[[Handler], tuple[TestClient, FunctionTransport]]]:  # type: ignore[no-untyped-def]
    clients: list[TestClient] = []

    def make(handler: Handler) -> tuple[TestClient, FunctionTransport]:
        runtime, transport = sending_runtime(tmp_path / "state", _pki, handler)
        runtime.settings.outbox.retry_base_seconds = 0.001  # a retry is due almost at once
        runtime.settings.outbox.retry_max_delay_seconds = 0.01
        client = TestClient(create_app(runtime=runtime), raise_server_exceptions=False)
        client.runtime = runtime  # type: ignore[attr-defined]
        client.__enter__()
        clients.append(client)
        return client, transport

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_delivered_submission_answers_a_transaction_response_in_request_order(make_client) -> None:  # type: ignore[no-untyped-def]
    client, transport = make_client(registry_answer())
    r = client.post("/fhir", content=BUNDLE, headers=FHIR)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "transaction-response"
    request_types = [e["resource"]["resourceType"] for e in json.loads(BUNDLE)["entry"]]
    assert len(body["entry"]) == len(request_types)
    for rtype, entry in zip(request_types, body["entry"], strict=True):  # every location given resolves
        created = rtype in ("List", "DocumentReference", "Binary")
        assert entry["response"]["status"] == ("201 Created" if created else "200 OK"), (rtype, entry)
        assert ("location" in entry["response"]) is (rtype == "DocumentReference")
        if rtype == "DocumentReference":
            assert client.get(f"/fhir/{entry['response']['location']}").status_code == 200
    assert len(transport.requests) == 1
    task = client.get(r.headers["content-location"].split("/fhir", 1)[1].join(["/fhir", ""])).json()
    assert task["resourceType"] == "Task" and task["status"] == "completed"


def test_same_document_posted_twice_is_sent_once(make_client) -> None:  # type: ignore[no-untyped-def]
    client, transport = make_client(registry_answer())
    first = client.post("/fhir", content=BUNDLE, headers=FHIR)
    second = client.post("/fhir", content=BUNDLE, headers=FHIR)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert len(transport.requests) == 1


def test_idempotency_key_replay_returns_the_stored_answer_without_resending(make_client) -> None:  # type: ignore[no-untyped-def]
    client, transport = make_client(registry_answer())
    headers = {**FHIR, "Idempotency-Key": "abc-123"}
    first = client.post("/fhir", content=BUNDLE, headers=headers)
    second = client.post("/fhir", content=BUNDLE, headers=headers)
    assert first.status_code == second.status_code == 200
    assert len(transport.requests) == 1


def test_busy_registry_answers_202_with_a_status_location_then_retries(make_client) -> None:  # type: ignore[no-untyped-def]
    client, transport = make_client(registry_answer(RegistryError("XDSRegistryBusy", "occupé")))
    r = client.post("/fhir", content=BUNDLE, headers=FHIR)
    assert r.status_code == 202
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    location = r.headers["content-location"]
    task = client.get("/fhir" + location.split("/fhir", 1)[1]).json()
    assert task["status"] == "in-progress" and task["businessStatus"]["text"] == "failed"
    assert {"system": "urn:ihe:iti:xds:2007:errorCode", "code": "XDSRegistryBusy"} in task["statusReason"]["coding"]

    transport._handler = registry_answer()  # the registry is available again
    time.sleep(0.05)
    outcomes = client.runtime.relay.run_once()
    assert [o.outcome.value for o in outcomes] == ["delivered"]
    assert len(transport.requests) == 2
    task = client.get("/fhir" + location.split("/fhir", 1)[1]).json()
    assert task["status"] == "completed"
    # the two attempts carried two different, freshly signed VIHF tokens and MessageIDs
    assert transport.requests[0].message_id != transport.requests[1].message_id


def test_metadata_error_is_a_422_operation_outcome_with_the_xds_code_and_no_retry(make_client) -> None:  # type: ignore[no-untyped-def]
    error = RegistryError("XDSRegistryMetadataError", "classCode inconnu", location="DocumentEntry.classCode")
    client, transport = make_client(registry_answer(error))
    r = client.post("/fhir", content=BUNDLE, headers=FHIR)
    assert r.status_code == 422
    issue = r.json()["issue"][0]
    assert issue["code"] == "invalid"
    assert {"system": "urn:ihe:iti:xds:2007:errorCode", "code": "XDSRegistryMetadataError"} in issue["details"][
        "coding"
    ]
    assert issue["details"]["text"] == "classCode inconnu"
    assert issue["diagnostics"] == "DocumentEntry.classCode"
    task = client.get("/fhir" + r.headers["content-location"].split("/fhir", 1)[1]).json()
    assert task["status"] == "failed"
    assert len(transport.requests) == 1


def test_respond_async_queues_without_sending(make_client) -> None:  # type: ignore[no-untyped-def]
    client, transport = make_client(registry_answer())
    r = client.post("/fhir", content=BUNDLE, headers={**FHIR, "Prefer": "respond-async"})
    assert r.status_code == 202
    assert transport.requests == []
    task = client.get("/fhir" + r.headers["content-location"].split("/fhir", 1)[1]).json()
    assert task["status"] == "requested"


def test_audit_trail_is_queryable_and_holds_no_ins(make_client) -> None:  # type: ignore[no-untyped-def]
    client, _ = make_client(registry_answer())
    r = client.post("/fhir", content=BUNDLE, headers=FHIR)
    submission_id = r.headers["content-location"].rsplit("/", 1)[1]
    audit = client.get("/fhir/AuditEvent", params={"entity": submission_id})
    assert audit.status_code == 200
    events = [e["resource"] for e in audit.json()["entry"]]
    kinds = [e["subtype"][0]["code"] for e in events]
    assert kinds[0] == "enqueued" and kinds[-1] == "delivered"
    text = audit.text
    assert "185076912345673" not in text  # the INS of the example bundle: only its keyed hash is kept
    assert any("hmac-sha256:" in json.dumps(e["entity"]) for e in events)
    by_date = client.get("/fhir/AuditEvent", params=[("date", "ge2000-01-01T00:00:00+00:00")])
    assert by_date.json()["total"] >= len(events)


def test_sending_without_a_configured_dmp_is_501(tmp_path: Path) -> None:
    from facade.settings import Settings

    client = TestClient(create_app(Settings(environment="development", state_dir=tmp_path)))
    r = client.post("/fhir", content=BUNDLE, headers=FHIR)
    assert r.status_code == 501
    assert r.json()["resourceType"] == "OperationOutcome"
