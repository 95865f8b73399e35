"""Beyond authentication: a client sees its own submissions; the audit trail needs the audit scope; refusals are
audited too; a client that stalls mid-body gets 408."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from facade.api.body import read_limited_body
from facade.app import create_app
from facade.errors import FacadeError, Problem
from facade.pki import TestPki
from facade.settings import AuthConfig
from tests.dmp_edge import sending_runtime

from .conftest import AUDIENCE, ISSUER, SCOPE, Signer

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json").read_bytes()
BAD = (ROOT / "tests/data/bundles/ins-wrong-key.json").read_bytes()
FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
def client(tmp_path: Path, pki: TestPki, jwks_file: Path) -> TestClient:
    runtime, _ = sending_runtime(tmp_path / "state", pki)
    settings = runtime.settings
    settings.auth = AuthConfig.model_validate(  # type: ignore[attr-defined]
        {
            "mode": "oauth2",
            "tls_terminated_upstream": True,
            "oauth2": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks_file, "required_scopes": [SCOPE]},
        }
    )
    return TestClient(create_app(runtime=runtime), raise_server_exceptions=False)


def _as(signer: Signer, sub: str, scope: str = f"openid {SCOPE}") -> dict[str, str]:
    return {"Authorization": f"Bearer {signer.token(sub=sub, scope=scope)}"}


def test_a_client_reads_its_own_submission_but_not_another_ones(client: TestClient, rsa_signer: Signer) -> None:
    posted = client.post("/fhir", content=GOOD, headers={**FHIR, **_as(rsa_signer, "dpi-a")})
    assert posted.status_code == 200, posted.text
    task_path = "/fhir" + posted.headers["content-location"].split("/fhir", 1)[1]
    assert client.get(task_path, headers=_as(rsa_signer, "dpi-a")).status_code == 200
    other = client.get(task_path, headers=_as(rsa_signer, "dpi-b"))
    assert other.status_code == 404  # not even its existence leaks
    auditor = _as(rsa_signer, "auditor", f"openid {SCOPE} dmp.audit")
    assert client.get(task_path, headers=auditor).status_code == 200


def test_the_audit_trail_needs_the_audit_scope_and_records_refusals(client: TestClient, rsa_signer: Signer) -> None:
    refused = client.post("/fhir", content=BAD, headers={**FHIR, **_as(rsa_signer, "dpi-a")})
    assert refused.status_code == 422
    denied = client.get("/fhir/AuditEvent", params={"date": "ge2000-01-01"}, headers=_as(rsa_signer, "dpi-a"))
    assert denied.status_code == 403
    assert denied.json()["issue"][0]["code"] == "forbidden"
    auditor = _as(rsa_signer, "auditor", f"openid {SCOPE} dmp.audit")
    trail = client.get("/fhir/AuditEvent", params={"date": "ge2000-01-01"}, headers=auditor)
    assert trail.status_code == 200
    events = [e["resource"] for e in trail.json()["entry"]]
    rejected = [e for e in events if e["subtype"][0]["code"] == "rejected"]
    assert rejected and rejected[-1]["outcomeDesc"] == "ins-key-mismatch"
    assert "dpi-a" in rejected[-1]["agent"][0]["who"]["display"]
    assert "185076912345673" not in json.dumps(events)


@pytest.mark.parametrize("path", ["/infocentre", "/infocentre.csv", "/infocentre.json"])
def test_the_infocentre_needs_the_audit_scope(client: TestClient, rsa_signer: Signer, path: str) -> None:
    assert client.post("/fhir", content=BAD, headers={**FHIR, **_as(rsa_signer, "dpi-a")}).status_code == 422
    anonymous = client.get(path)
    assert anonymous.status_code == 401 and anonymous.json()["resourceType"] == "OperationOutcome"
    denied = client.get(path, headers=_as(rsa_signer, "dpi-a"))
    assert denied.status_code == 403 and denied.json()["issue"][0]["code"] == "forbidden"
    shown = client.get(path, headers=_as(rsa_signer, "auditor", f"openid {SCOPE} dmp.audit"))
    assert shown.status_code == 200
    assert "ins-key-mismatch" in shown.text  # the refusal, by its problem code


def test_a_client_stalling_mid_body_gets_408() -> None:
    async def scenario() -> None:
        messages = [{"type": "http.request", "body": b'{"resourceType":', "more_body": True}]

        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # the client never sends the rest
            raise AssertionError("unreachable")

        request = Request({"type": "http", "method": "POST", "headers": []}, receive)
        with pytest.raises(FacadeError) as caught:
            await read_limited_body(request, limit=1_000_000, timeout=0.2)
        assert caught.value.problem is Problem.REQUEST_TIMEOUT
        assert caught.value.http_status == 408

    asyncio.run(scenario())


def test_metrics_need_the_audit_scope_like_the_audit_trail(client: TestClient, rsa_signer: Signer) -> None:
    assert client.get("/metrics").status_code == 401  # anonymous: an OperationOutcome, never the figures
    denied = client.get("/metrics", headers=_as(rsa_signer, "dpi-a"))
    assert denied.status_code == 403 and denied.json()["issue"][0]["code"] == "forbidden"
    allowed = client.get("/metrics", headers=_as(rsa_signer, "prometheus", f"openid {SCOPE} dmp.audit"))
    assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "facade_outbox_backlog 0.0" in allowed.text
