"""Idempotency by meaning (issue 10) and exactly-once across keys and clients (issue 14 items 2 and 3): replay is
decided on the documents (uniqueId + content hash, patient) and, for identical bytes, on the client, not on the
request bytes or the Idempotency-Key alone. Real conversion, signing and store; the DMP is a function."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from facade.errors import FacadeError, Problem
from facade.outbox import AuditEvent
from facade.submissions import Disposition, SubmissionService
from tests.dmp_edge import FunctionTransport, registry_answer, sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()
UID = "1.2.250.1.999.1.1.100.1"


@pytest.fixture
def dmp(tmp_path: Path, _pki) -> tuple[SubmissionService, FunctionTransport]:  # type: ignore[no-untyped-def]
    runtime, transport = sending_runtime(tmp_path / "state", _pki, registry_answer())
    return runtime.submissions(), transport


def _reserialised(body: bytes) -> bytes:
    """The same bundle as another library writes it: keys in reverse order, another indentation."""

    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    return json.dumps(reverse(json.loads(body)), indent=3, ensure_ascii=True).encode()


def _with_other_content(body: bytes) -> bytes:
    request = json.loads(body)
    binary = next(e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "Binary")
    binary["data"] = base64.b64encode(base64.b64decode(binary["data"]) + b"\n% corrected\n").decode()
    doc = next(e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    for content in doc["content"]:  # the size and hash of the first content no longer hold
        content["attachment"].pop("size", None)
        content["attachment"].pop("hash", None)
    return json.dumps(request).encode()


def test_the_same_documents_reserialised_replay_the_stored_answer(dmp) -> None:  # type: ignore[no-untyped-def]
    service, transport = dmp
    first = service.submit(BUNDLE, actor="dpi-a")
    again = service.submit(_reserialised(BUNDLE), actor="dpi-a")
    keyed = service.submit(_reserialised(BUNDLE), actor="dpi-a", idempotency_key="other-key")

    assert _reserialised(BUNDLE) != BUNDLE
    assert first.disposition is Disposition.DELIVERED
    assert again.replayed and keyed.replayed and again.record.id == keyed.record.id == first.record.id
    assert len(transport.requests) == 1


def test_the_same_unique_id_with_other_content_is_a_409_naming_it(dmp) -> None:  # type: ignore[no-untyped-def]
    service, transport = dmp
    service.submit(BUNDLE, actor="dpi-a")
    with pytest.raises(FacadeError) as refused:
        service.submit(_with_other_content(BUNDLE), actor="dpi-a")
    assert refused.value.problem is Problem.DOCUMENT_ALREADY_SUBMITTED and refused.value.http_status == 409
    assert UID in str(refused.value)
    assert len(transport.requests) == 1


def test_a_keyless_retry_of_a_keyed_request_replays(dmp) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 #2: a DocumentReference without masterIdentifier (the facade generates its uniqueId) posted with
    an Idempotency-Key, then the identical bytes without it: one document, sent once."""
    service, transport = dmp
    request = json.loads(BUNDLE)
    doc = next(e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    del doc["masterIdentifier"], doc["identifier"]
    body = json.dumps(request).encode()

    first = service.submit(body, actor="dpi-a", idempotency_key="k-1")
    retry = service.submit(body, actor="dpi-a")

    assert first.disposition is Disposition.DELIVERED and retry.replayed
    assert retry.record.id == first.record.id
    assert len(transport.requests) == 1


def test_another_client_gets_document_already_submitted_without_the_first_clients_ids(dmp) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 #3: B posts, A posts the same bytes: A is told the document is already submitted, without B's
    submission (no Task of B's to read), and the audit trail records A's request as A's."""
    service, transport = dmp
    theirs = service.submit(BUNDLE, actor="client-b", respond_async=True)

    with pytest.raises(FacadeError) as refused:
        service.submit(BUNDLE, actor="client-a")

    assert refused.value.problem is Problem.DOCUMENT_ALREADY_SUBMITTED
    assert theirs.record.id not in str(refused.value) and "another client" in str(refused.value)
    conflicts = [e for e in service.outbox.audit_for_submission(theirs.record.id) if e.event == AuditEvent.CONFLICT]
    assert [e.actor for e in conflicts] == ["client-a"]
    assert not [e for e in service.outbox.audit_for_submission(theirs.record.id) if e.event == AuditEvent.REPLAYED]
    assert transport.requests == []  # B's is queued (respond-async); A's was never stored
