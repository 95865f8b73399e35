"""GET /fhir/DocumentReference without a DMP, and with a DMP that cannot be reached: FHIR answers, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from facade.app import create_app
from facade.cli import demo_settings
from facade.model.identifiers import nir_key
from facade.settings import Settings

BODY = "2800575123456"
PARAMS = {"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{BODY}{nir_key(BODY)}", "status": "current"}
DEAD_DMP = "https://127.0.0.1:9/si-dmp-server/v2/services/repository"  # nothing listens


def _problem(response: Any) -> str:
    codes = [c["code"] for i in response.json()["issue"] for c in i["details"]["coding"]]
    return str(codes[0])


def test_without_a_dmp_the_search_is_not_implemented(client: TestClient) -> None:
    response = client.get("/fhir/DocumentReference", params=PARAMS)
    assert response.status_code == 501 and response.json()["resourceType"] == "OperationOutcome"


def test_an_unreachable_dmp_is_a_gateway_error(tmp_path: Path, _pki: Any) -> None:
    settings = demo_settings(tmp_path / "state", DEAD_DMP, _pki)
    assert isinstance(settings, Settings)
    settings.outbox.relay = False
    settings.vihf.auth_mode = "INDIRECTE_RENFORCEE"
    with TestClient(create_app(settings), raise_server_exceptions=False, base_url="http://localhost") as client:
        response = client.get("/fhir/DocumentReference", params=PARAMS)
        bad = client.get("/fhir/DocumentReference", params={**PARAMS, "status": "final"})
    assert 502 <= response.status_code <= 504, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert bad.status_code == 400 and _problem(bad) == "search-invalid-parameter"  # checked before any call
