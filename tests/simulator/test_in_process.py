"""The ASGI app without the TLS server (Starlette TestClient): the Python API tests and tools can use in-process."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from facade.pki import TestPki
from facade.simulator import REPOSITORY_PATH, create_simulator_app
from facade.soap.envelope import parse_response

from .builders import RequestFactory


def test_in_process_app_records_and_answers(pki: TestPki, tmp_path: Path, factory: RequestFactory) -> None:
    app = create_simulator_app(tmp_path / "state", ca_cert=pki.ca_cert)
    app.simulator.script.set(["busy"])
    request = factory.request()
    with TestClient(app, base_url="https://dmp.test") as client:
        r = client.post(REPOSITORY_PATH, content=request.body, headers={"Content-Type": request.content_type})
        busy = parse_response(r.headers["content-type"], r.content)
        r = client.post(REPOSITORY_PATH, content=request.body, headers={"Content-Type": request.content_type})
        ok = parse_response(r.headers["content-type"], r.content)
        listing = client.get("/_simulator/requests").json()
    assert busy.registry_response is not None and [e.error_code for e in busy.registry_response.errors] == [
        "XDSRegistryBusy"
    ]
    # no TLS here: the structure is checked against the VIHF signing certificate only
    assert ok.registry_response is not None and ok.registry_response.is_success
    assert [e["n"] for e in listing] == [1, 2]
    raw = app.simulator.inbox.read(1)
    assert raw is not None and raw.startswith(f"POST {REPOSITORY_PATH} HTTP/1.1\r\n".encode())
    assert raw.endswith(b"\r\n\r\n" + request.body)
    assert f"content-type: {request.content_type}".encode() in raw  # rebuilt from the scope: lower-cased names
