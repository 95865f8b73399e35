"""Request id per request (in, or generated; echoed; on every log line of that request) and the access line."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.settings import Settings

from .conftest import Signer, whoami_app

Lines = Callable[[], list[dict[str, Any]]]


def test_client_request_id_is_echoed_and_on_every_line_of_the_request(
    oauth2_app: FastAPI, rsa_signer: Signer, captured_logs: Lines
) -> None:
    client = TestClient(oauth2_app)
    headers = {"Authorization": f"Bearer {rsa_signer.token()}", "X-Request-ID": "dpi-42.a"}
    r = client.get("/fhir/_whoami", headers=headers)
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "dpi-42.a"
    lines = [line for line in captured_logs() if line.get("request_id") == "dpi-42.a"]
    messages = {line["msg"] for line in lines}
    assert {"in route", "in worker thread"} <= messages  # event loop and threadpool both carry the id
    access = [line for line in lines if line["logger"] == "facade.access"]
    assert len(access) == 1
    a = access[0]
    assert (a["method"], a["path"], a["status"]) == ("GET", "/fhir/_whoami", 200)
    assert isinstance(a["duration_ms"], float)
    assert a["actor"] == "oauth2:dpi-cardio-01"
    assert all(line["actor"] == "oauth2:dpi-cardio-01" for line in lines if line["msg"].startswith("in "))


def test_generated_request_ids_are_unique_uuids(oauth2_app: FastAPI) -> None:
    client = TestClient(oauth2_app)
    ids = {client.get("/fhir/metadata").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    for value in ids:
        uuid.UUID(value)


@pytest.mark.parametrize("bad", ["a" * 65, "has space", "semi;colon", "line\\nbreak", "-leading", "é"])
def test_unsafe_client_request_ids_are_replaced(oauth2_app: FastAPI, bad: str) -> None:
    r = TestClient(oauth2_app).get("/fhir/metadata", headers={"X-Request-ID": bad.encode("utf-8")})
    assert r.headers["x-request-id"] != bad
    uuid.UUID(r.headers["x-request-id"])


def test_refusals_carry_the_request_id_and_are_logged(oauth2_app: FastAPI, captured_logs: Lines) -> None:
    r = TestClient(oauth2_app).get("/fhir/_whoami", headers={"X-Request-ID": "refused-1"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "refused-1"
    access = [line for line in captured_logs() if line["logger"] == "facade.access"]
    assert access[-1]["status"] == 401
    assert access[-1]["request_id"] == "refused-1"
    assert "actor" not in access[-1]


def test_access_line_never_has_the_query_string_nor_the_body(
    tmp_path: Path, captured_logs: Lines
) -> None:
    settings = Settings(environment="development", state_dir=tmp_path / "state")
    client = TestClient(whoami_app(create_app(settings)), raise_server_exceptions=False)
    body = b'{"resourceType": "Bundle", "secretField": "DUPONT-Jeanne"}'
    client.post("/fhir/Bundle/$preview?patient=279035121518989&validate=xsd", content=body,
                headers={"content-type": "application/fhir+json"})
    text = "\n".join(str(line) for line in captured_logs())
    assert "279035121518989" not in text
    assert "DUPONT" not in text
    access = [line for line in captured_logs() if line["logger"] == "facade.access"]
    assert access[-1]["path"] == "/fhir/Bundle/$preview"


def test_access_log_can_be_switched_off(tmp_path: Path, captured_logs: Lines) -> None:
    settings = Settings(environment="development", state_dir=tmp_path / "state", logging={"access_log": False})
    TestClient(create_app(settings)).get("/fhir/metadata")
    assert not [line for line in captured_logs() if line["logger"] == "facade.access"]


def test_an_unexpected_error_still_gets_an_access_line_with_its_request_id(
    tmp_path: Path, captured_logs: Lines
) -> None:
    app = create_app(Settings(environment="development", state_dir=tmp_path / "state"))

    async def boom() -> None:
        raise RuntimeError("patient 279035121518989 exploded")

    app.router.add_api_route("/fhir/_boom", boom, methods=["GET"])
    r = TestClient(app, raise_server_exceptions=False).get("/fhir/_boom", headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500
    assert r.json()["resourceType"] == "OperationOutcome"
    lines = captured_logs()
    access = [line for line in lines if line["logger"] == "facade.access"]
    assert (access[-1]["status"], access[-1]["request_id"], access[-1]["error"]) == (500, "boom-1", "RuntimeError")
    assert "279035121518989" not in "\n".join(str(line) for line in lines)  # the traceback line is redacted
