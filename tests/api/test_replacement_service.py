"""Replacement checks of the submission service against the registry while a replacement is still on its way:
a second replacement of one document is refused (409) and never names another client's submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from facade.errors import FacadeError, Problem
from tests.dmp_edge import registry_answer, sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()
OLD_UID = "1.2.250.1.999.1.1.100.1"


def _replacement(unique_id: str) -> bytes:
    request: dict[str, Any] = json.loads(BUNDLE)
    doc = next(e["resource"] for e in request["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    del doc["identifier"]
    doc["masterIdentifier"]["value"] = f"urn:oid:{unique_id}"
    doc["relatesTo"] = [{"code": "replaces", "target": {"identifier": {"value": f"urn:oid:{OLD_UID}"}}}]
    request["entry"][0]["resource"]["identifier"] = [{"use": "usual", "value": f"urn:oid:{unique_id}.1"}]
    return json.dumps(request).encode()


def test_a_replacement_on_its_way_blocks_a_second_one(tmp_path: Path, _pki) -> None:  # type: ignore[no-untyped-def]
    runtime, transport = sending_runtime(tmp_path / "state", _pki, registry_answer())
    service = runtime.submissions()
    service.submit(BUNDLE, actor="client-b")
    pending = service.submit(_replacement("1.2.250.1.999.1.1.100.2"), actor="client-b", respond_async=True)
    assert pending.record.document_unique_ids == ("1.2.250.1.999.1.1.100.2",)

    with pytest.raises(FacadeError) as refused:
        service.submit(_replacement("1.2.250.1.999.1.1.100.3"), actor="client-a")

    assert refused.value.problem is Problem.REPLACED_SUPERSEDED and refused.value.http_status == 409
    assert pending.record.id not in str(refused.value) and "another client" in str(refused.value)
    with pytest.raises(FacadeError) as mine:
        service.submit(_replacement("1.2.250.1.999.1.1.100.4"), actor="client-b")
    assert pending.record.id in str(mine.value)  # its own client is told which submission
    assert len(transport.requests) == 1  # the original only: the replacement is queued, the others refused
