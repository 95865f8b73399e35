"""Issue 14 item 8: absolute URLs never reflect a client's Host header.

The attack: ``GET /fhir/Task/x/`` with ``Host: evil.example`` was redirected to ``http://evil.example/...``, and
the same host appeared in ``Content-Location`` and in the CapabilityStatement. Now absolute URLs come from
``FACADE_BASE_URL``, or, when it is unset, from the request only once its Host is one of
``FACADE_ALLOWED_HOSTS``; and no trailing-slash redirect is ever built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.settings import Settings
from tests.dmp_edge import registry_answer, sending_runtime

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()
FHIR = {"content-type": "application/fhir+json"}
EVIL = {"host": "evil.example"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from facade.pki import init_test_pki

    return init_test_pki(tmp_path_factory.mktemp("pki"), structure_id="1120456789")


def _client(tmp_path: Path, pki, base_url: str = "") -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    runtime, _ = sending_runtime(tmp_path / "state", pki, registry_answer())
    runtime.settings.base_url = base_url
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path, pki) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from _client(tmp_path, pki)


@pytest.fixture
def configured(tmp_path: Path, pki) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from _client(tmp_path, pki, base_url="https://facade.hospital.example/fhir")


def test_a_trailing_slash_is_not_redirected_to_the_clients_host(client: TestClient) -> None:
    r = client.get("/fhir/Task/x/", headers=EVIL)
    assert r.status_code == 404
    assert "location" not in r.headers
    assert "evil.example" not in r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_an_unknown_host_gets_no_url_built_from_it(client: TestClient) -> None:
    metadata = client.get("/fhir/metadata", headers=EVIL)
    for r in (metadata, client.post("/fhir", content=BUNDLE, headers={**FHIR, **EVIL})):
        assert r.status_code == 400, r.text
        assert "location" not in r.headers and "content-location" not in r.headers
        issue = r.json()["issue"][0]
        assert issue["code"] == "security"
        assert issue["details"]["coding"][0]["code"] == "host-not-allowed"


def test_an_allowed_host_is_used_when_no_base_url_is_configured(client: TestClient) -> None:
    r = client.get("/fhir/metadata", headers={"host": "localhost:8080"})
    assert r.status_code == 200
    assert r.json()["implementation"]["url"] == "http://localhost:8080/fhir"


def test_the_configured_base_url_wins_over_any_host(configured: TestClient) -> None:
    base = "https://facade.hospital.example/fhir"
    capability = configured.get("/fhir/metadata", headers=EVIL)
    assert capability.status_code == 200
    assert capability.json()["implementation"]["url"] == base
    r = configured.post("/fhir", content=BUNDLE, headers={**FHIR, **EVIL})
    assert r.status_code == 200, r.text
    assert r.headers["content-location"].startswith(base + "/Task/")
    assert "evil.example" not in r.text


@pytest.mark.parametrize("value", ["facade.example/fhir", "https://facade.example/fhir?x=1", "ftp://facade.example"])
def test_a_base_url_that_is_not_an_absolute_http_url_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="base_url must be an absolute"):
        Settings(environment="development", base_url=value)


def test_allowed_hosts_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACADE_ALLOWED_HOSTS", "facade.hospital.example, 10.0.0.5")
    assert Settings(environment="development").allowed_hosts == ["facade.hospital.example", "10.0.0.5"]
