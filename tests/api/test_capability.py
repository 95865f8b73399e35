from __future__ import annotations

from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition


def test_metadata_is_a_valid_r4_capability_statement(client: TestClient) -> None:
    r = client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    cs = CapabilityStatement.model_validate(r.json())
    assert cs.kind == "instance" and cs.implementation is not None  # cpb-2: kind=instance needs implementation
    assert cs.fhirVersion == "4.0.1"
    rest = cs.rest[0]
    ops = {op.name for op in rest.operation}
    assert "preview" in ops
    # every operation definition referenced is served by the facade itself
    for op in rest.operation:
        assert op.definition.endswith("/OperationDefinition/" + op.name)


def test_preview_operation_definition_is_served_and_valid(client: TestClient) -> None:
    r = client.get("/fhir/OperationDefinition/preview")
    assert r.status_code == 200
    od = OperationDefinition.model_validate(r.json())
    assert od.code == "preview"
    names = {p.name for p in od.parameter}
    assert {"validate", "document", "outcome"} <= names
