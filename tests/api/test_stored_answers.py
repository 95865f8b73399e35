"""The outbox stores the domain outcome (issues with problem codes, expressions, codings), the API renders it; records
written by earlier versions, which stored a rendered OperationOutcome and its HTTP status, still answer the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.errors import PROBLEM_SYSTEM, XDS_ERROR_SYSTEM, DeliveryError, Issue, Problem
from facade.outbox.record import Failure, NewSubmission, Payload, delivered_response
from facade.outbox.sqlite import SqliteOutbox
from facade.runtime import Runtime
from tests.dmp_edge import sending_runtime

OWNER = "test-relay"
CONTEXT = {
    "submission_unique_id": "1.2.250.1.999.1.1.1.1.9",
    "entries": [
        {"index": 0, "resource_type": "DocumentReference", "unique_id": "1.2.250.1.999.1.1.1.1.10", "full_url": None}
    ],
}
# What versions up to a119a4c wrote for a dead submission refused by the registry (feeding.failure_from)
LEGACY_OUTCOME: dict[str, Any] = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "invalid",
            "details": {
                "coding": [
                    {"system": PROBLEM_SYSTEM, "code": "xds-metadata-rejected"},
                    {"system": XDS_ERROR_SYSTEM, "code": "XDSRegistryMetadataError"},
                ],
                "text": "classCode inconnu",
            },
            "diagnostics": "DocumentEntry.classCode",
        },
        {
            "severity": "warning",
            "code": "informational",
            "details": {
                "coding": [
                    {"system": PROBLEM_SYSTEM, "code": "xds-warning"},
                    {"system": XDS_ERROR_SYSTEM, "code": "XDSExtraMetadataNotSaved"},
                ],
                "text": "slot ignoré",
            },
        },
    ],
}
LEGACY_FAILURE = {
    "code": "xds-metadata-rejected",
    "message": "classCode inconnu",
    "details": {
        "issues": [
            {
                "code": "xds-metadata-rejected",
                "message": "classCode inconnu",
                "codings": [[XDS_ERROR_SYSTEM, "XDSRegistryMetadataError"]],
            },
            {
                "code": "xds-warning",
                "message": "slot ignoré",
                "codings": [[XDS_ERROR_SYSTEM, "XDSExtraMetadataNotSaved"]],
            },
        ],
        "http_status": 422,
        "outcome": LEGACY_OUTCOME,
    },
}
# ... and for a delivered one with a registry warning (feeding.delivered_summary)
LEGACY_DELIVERED = {
    "status": "Success",
    "warnings": {"resourceType": "OperationOutcome", "issue": [LEGACY_OUTCOME["issue"][1]]},
}


@pytest.fixture
def facade(tmp_path: Path, _pki) -> Iterator[tuple[TestClient, Runtime]]:  # type: ignore[no-untyped-def]
    runtime, _ = sending_runtime(tmp_path / "state", _pki)
    assert isinstance(runtime.outbox, SqliteOutbox)  # the real store, on disk
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        yield client, runtime


def _stored(runtime: Runtime, n: int) -> str:
    """A record as the relay leaves it after claiming it (the caller then fails or completes it)."""
    result = runtime.outbox.enqueue(
        NewSubmission(
            idempotency_key=f"test:{n}",
            fingerprint=f"fp{n}",
            payload=Payload("application/octet-stream", b"x"),
            document_unique_ids=(f"1.2.250.1.999.1.1.1.1.{10 + n}",),
            patient_hash="h",
            actor="none:anonymous-development",
            context=CONTEXT,
        )
    )
    claimed = runtime.outbox.claim_id(result.record.id, datetime.now(UTC), timedelta(minutes=1), OWNER)
    assert claimed is not None
    return claimed.id


def _task_answer(client: TestClient, submission_id: str) -> tuple[str, dict[str, Any]]:
    task = client.get(f"/fhir/Task/{submission_id}")
    assert task.status_code == 200, task.text
    output = task.json()["output"][0]
    return output["type"]["text"], json.loads(output["valueString"])


def test_a_dead_record_of_the_old_shape_answers_its_stored_outcome_and_status(
    facade: tuple[TestClient, Runtime],
) -> None:
    client, runtime = facade
    sid = _stored(runtime, 1)
    runtime.outbox.fail(sid, Failure.from_json(LEGACY_FAILURE), None, owner=OWNER)

    status, body = _task_answer(client, sid)

    assert (status, body) == ("response (422)", LEGACY_OUTCOME)
    reason = client.get(f"/fhir/Task/{sid}").json()["statusReason"]["coding"]
    assert {"system": XDS_ERROR_SYSTEM, "code": "XDSRegistryMetadataError"} in reason


def test_a_delivered_record_of_the_old_shape_keeps_its_warnings(facade: tuple[TestClient, Runtime]) -> None:
    client, runtime = facade
    sid = _stored(runtime, 2)
    runtime.outbox.complete(sid, LEGACY_DELIVERED, owner=OWNER)

    status, body = _task_answer(client, sid)

    assert status == "response (200)"
    assert body["entry"][0]["response"]["outcome"] == LEGACY_DELIVERED["warnings"]


def test_new_records_store_domain_issues_and_answer_like_the_old_ones(facade: tuple[TestClient, Runtime]) -> None:
    client, runtime = facade
    error = DeliveryError(
        Problem.XDS_METADATA_REJECTED,
        issues=[
            Issue(
                Problem.XDS_METADATA_REJECTED,
                details={"error_code": "XDSRegistryMetadataError", "context": "classCode inconnu"},
                codings=((XDS_ERROR_SYSTEM, "XDSRegistryMetadataError"),),
                diagnostics="DocumentEntry.classCode",
            ),
            Issue(
                Problem.XDS_WARNING,
                details={"error_code": "XDSExtraMetadataNotSaved", "context": "slot ignoré"},
                codings=((XDS_ERROR_SYSTEM, "XDSExtraMetadataNotSaved"),),
            ),
        ],
    )
    dead, delivered = _stored(runtime, 3), _stored(runtime, 4)
    runtime.outbox.fail(dead, Failure.from_error(error), None, owner=OWNER)
    runtime.outbox.complete(delivered, delivered_response(error.issues[1:]), owner=OWNER)

    stored = runtime.outbox.get(dead)
    assert stored is not None and stored.last_error is not None
    assert "outcome" not in stored.last_error.details and "http_status" not in stored.last_error.details
    assert stored.last_error.details["issues"][0]["diagnostics"] == "DocumentEntry.classCode"
    assert _task_answer(client, dead) == ("response (422)", LEGACY_OUTCOME)
    assert _task_answer(client, delivered)[1]["entry"][0]["response"]["outcome"] == LEGACY_DELIVERED["warnings"]
