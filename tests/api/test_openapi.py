"""Issue 14 item 12: the OpenAPI document describes what the FHIR endpoints really answer (FHIR JSON, the error
statuses as OperationOutcomes) and the bodies they read, so generated clients and schema-driven fuzzers see them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from facade.app import create_app
    from facade.settings import Settings

    settings = Settings(environment="development", state_dir=tmp_path_factory.mktemp("state"))
    body: dict[str, Any] = TestClient(create_app(settings)).get("/_openapi.json").json()
    return body


def _fhir_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() if p.startswith("/fhir") for m, op in ops.items()]


def test_every_fhir_answer_is_declared_as_fhir_json(spec: dict[str, Any]) -> None:
    for method, path, op in _fhir_operations(spec):
        for status, response in op["responses"].items():
            assert list(response.get("content", {})) == [FHIR_JSON], (method, path, status)


def test_errors_are_declared_as_operation_outcomes(spec: dict[str, Any]) -> None:
    for method, path, op in _fhir_operations(spec):
        for status in ("400", "404", "422"):
            schema = op["responses"][status]["content"][FHIR_JSON]["schema"]
            assert schema["properties"]["resourceType"]["enum"] == ["OperationOutcome"], (method, path, status)
        assert "HTTPValidationError" not in str(op["responses"]), (method, path)


@pytest.mark.parametrize(
    ("path", "resource"),
    [("/fhir", "Bundle"), ("/fhir/DocumentReference", "DocumentReference"), ("/fhir/Bundle/$preview", "Bundle")],
)
def test_bodies_read_as_bytes_are_declared(spec: dict[str, Any], path: str, resource: str) -> None:
    op = spec["paths"][path]["post"]
    body = op["requestBody"]
    assert body["required"] is True
    assert body["content"][FHIR_JSON]["schema"]["properties"]["resourceType"]["enum"] == [resource]
    for status in ("413", "415"):
        assert status in op["responses"]
