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
    # $preview is a type-level operation (the OperationDefinition says system=false, type=true)
    assert rest.operation is None
    for resource in rest.resource:
        for op in resource.operation or []:
            assert op.name == "preview"
            assert op.definition.endswith("/OperationDefinition/" + op.name)
    assert {r.type for r in rest.resource if r.operation} == {"Bundle", "DocumentReference"}


def test_sending_facade_declares_transaction_task_and_audit(tmp_path, pki_settings) -> None:  # type: ignore[no-untyped-def]
    from facade.app import create_app

    client = TestClient(create_app(pki_settings))
    cs = CapabilityStatement.model_validate(client.get("/fhir/metadata").json())
    rest = cs.rest[0]
    assert [i.code for i in rest.interaction] == ["transaction"]
    declared = {r.type: [i.code for i in r.interaction or []] for r in rest.resource}
    assert declared["Task"] == ["read"]
    assert declared["AuditEvent"] == ["search-type"]
    assert declared["DocumentReference"] == ["create", "read", "search-type", "patch"]
    assert declared["Patient"] == ["search-type"]  # TD0.2
    assert declared["Binary"] == ["read"]  # TD3.2


def test_preview_operation_definition_is_served_and_valid(client: TestClient) -> None:
    r = client.get("/fhir/OperationDefinition/preview")
    assert r.status_code == 200
    od = OperationDefinition.model_validate(r.json())
    assert od.code == "preview"
    names = {p.name for p in od.parameter}
    assert {"validate", "document", "outcome"} <= names
