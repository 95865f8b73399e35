"""Every error is an OperationOutcome with the right status, never HTML or an empty body."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _codes(body: dict) -> list[str]:
    return [c["code"] for i in body["issue"] for c in i["details"]["coding"]]


def test_unknown_path_is_an_operation_outcome_404(client: TestClient) -> None:
    r = client.get("/fhir/Nothing/here")
    assert r.status_code == 404
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"


def test_wrong_method_is_an_operation_outcome_405(client: TestClient) -> None:
    r = client.get("/fhir/Bundle/$preview")
    assert r.status_code == 405
    assert r.json()["resourceType"] == "OperationOutcome"


def test_xml_body_is_refused_with_415(client: TestClient) -> None:
    r = client.post("/fhir/Bundle/$preview", content=b"<Bundle/>", headers={"content-type": "application/fhir+xml"})
    assert r.status_code == 415
    assert "unsupported-media-type" in _codes(r.json())
    assert r.json()["issue"][0]["code"] == "not-supported"


def test_body_over_the_limit_is_413_before_parsing(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    limit = settings.input.max_body_bytes
    r = client.post(
        "/fhir/Bundle/$preview", content=b"{" + b" " * limit + b"}", headers={"content-type": "application/fhir+json"}
    )
    assert r.status_code == 413
    assert "body-too-large" in _codes(r.json())
    assert r.json()["issue"][0]["code"] == "too-costly"


def test_chunked_body_over_the_limit_is_413(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    limit = settings.input.max_body_bytes

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = client.post("/fhir/Bundle/$preview", content=chunks(), headers={"content-type": "application/fhir+json"})
    assert r.status_code == 413


def test_not_json_is_400_structure(client: TestClient) -> None:
    r = client.post("/fhir/Bundle/$preview", content=b"this is not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "structure"
    assert "body-not-json" in _codes(body)


def test_invalid_validate_parameter_is_an_operation_outcome(client: TestClient) -> None:
    r = client.post("/fhir/Bundle/$preview?validate=bogus", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"
