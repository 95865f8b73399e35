"""The GIE TD2.1 sample request (examples/dmp/TD2.1_alimentation_request.mime) with its quirks: the simulator reads
it with its own MTOM parser and answers a proper SOAP Fault, never a crash."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from facade.simulator import SimulatorServer
from facade.simulator.mime import MimeError, parse_multipart_related
from facade.soap.envelope import parse_response

BOUNDARY = "----=_Part_9_20030738.1554380517598"
CONTENT_TYPE = (
    f'multipart/related; type="application/xop+xml"; start="<rootpart@soapui.org>"; '
    f'start-info="application/soap+xml"; boundary="{BOUNDARY}"'
)


@pytest.fixture(scope="module")
def sample(kit_path: Path) -> bytes:
    return (kit_path / "examples" / "dmp" / "TD2.1_alimentation_request.mime").read_bytes()


def test_the_sample_as_published_uses_lf_line_ends_and_is_refused(sample: bytes) -> None:
    with pytest.raises(MimeError, match="malformed multipart"):
        parse_multipart_related(CONTENT_TYPE, sample)


def test_the_sample_with_crlf_parses_into_its_three_parts(sample: bytes) -> None:
    mime = parse_multipart_related(CONTENT_TYPE, sample.replace(b"\n", b"\r\n"))
    assert mime.root.content_id == "rootpart@soapui.org"
    assert sorted(mime.parts) == ["WS_DMP_TD2.1-DocumentME2.xml", "WS_DMP_TD2.1-SignatureXades.xml"]
    assert mime.parts["WS_DMP_TD2.1-SignatureXades.xml"].data.startswith(b"<")


def post(client: httpx.Client, server: SimulatorServer, body: bytes) -> httpx.Response:
    return client.post(server.url, content=body, headers={"content-type": CONTENT_TYPE})


def test_sample_as_published_gets_a_sender_fault(server: SimulatorServer, client: httpx.Client, sample: bytes) -> None:
    r = post(client, server, sample)
    response = parse_response(r.headers["content-type"], r.content)
    assert r.status_code == 400
    assert response.fault is not None and response.fault.code == "Sender"
    assert "MTOM illisible" in response.fault.reason
    assert server.simulator.inbox.read(1).endswith(sample)  # type: ignore[union-attr]


def test_sample_with_crlf_gets_a_version_mismatch_fault(
    server: SimulatorServer, client: httpx.Client, sample: bytes
) -> None:
    # its envelope is SOAP 1.1 inside an application/soap+xml part: a SOAP 1.2 node answers VersionMismatch
    r = post(client, server, sample.replace(b"\n", b"\r\n"))
    response = parse_response(r.headers["content-type"], r.content)
    assert r.status_code == 500
    assert response.fault is not None and response.fault.code == "VersionMismatch"
    assert response.relates_to == "urn:uuid:b3745a7c-4d1a-4cfd-a752-536197e4ac7a"


def test_sample_made_soap_1_2_is_refused_for_its_unsigned_directe_vihf(
    server: SimulatorServer, client: httpx.Client, sample: bytes
) -> None:
    body = sample.replace(b"\n", b"\r\n").replace(
        b"http://schemas.xmlsoap.org/soap/envelope/", b"http://www.w3.org/2003/05/soap-envelope"
    )
    r = post(client, server, body)
    response = parse_response(r.headers["content-type"], r.content)
    assert r.status_code == 400
    assert response.fault is not None and response.fault.subcodes == ("DMPInvalidVIHF",)
    assert "signé" in response.fault.reason
    assert server.simulator.registry.documents() == []
