"""MtlsTransport over real mutual TLS (uvicorn with CERT_REQUIRED and the test CA of facade/pki.py).

Each failure must come out as the right Problem with the right retryable / ambiguous facts. Tests run with the
client capped at TLS 1.2 (the DMP setting, facade.credentials default) and with TLS 1.3 allowed, because a refused
client certificate looks different in each (stack-notes §4)."""

from __future__ import annotations

import gc
import ssl
from pathlib import Path

import httpx
import pytest
from lxml import etree

from facade.errors import FacadeError, Problem, RemoteRejectionError, TlsError, TransportError
from facade.pki import TestPki
from facade.soap.envelope import SoapFault, SoapRequest, build_fault, build_provide_and_register
from facade.transport.base import FunctionTransport, XdsTransport
from facade.transport.mtls import MtlsTransport
from facade.xds import error_mapping

from .conftest import DroppingServer, MtlsServer, client_context

REQUEST = SoapRequest(
    content_type='application/soap+xml; charset=UTF-8; action="urn:test"',
    body=b'<?xml version="1.0"?><e xmlns="http://www.w3.org/2003/05/soap-envelope">\x00\r\n</e>',
    message_id="urn:uuid:7d1c0f7e-2a64-4a35-b1e7-3b1d1e0e9b10",
)


def test_happy_path_sends_the_exact_bytes_and_reuses_the_connection(
    mtls_server: MtlsServer, wire_pki: TestPki, signed_assertion: etree._Element, tls_max: ssl.TLSVersion
) -> None:
    from .test_envelope import CDA, XADES, submit_objects_request

    request = build_provide_and_register(
        submit_objects_request("Document01", "Signature01"),
        [("Document01", CDA), ("Signature01", XADES)],
        signed_assertion,
        to=mtls_server.url,
        message_id=REQUEST.message_id,
    )
    with MtlsTransport(mtls_server.url, client_context(wire_pki, maximum=tls_max)) as transport:
        assert isinstance(transport, XdsTransport)
        first = transport.send(request)
        second = transport.send(request)
    assert first.http_status == 200
    assert first.registry_response is not None and first.registry_response.is_success
    assert error_mapping.check_response(first) == []
    assert second.registry_response == first.registry_response
    assert [r.body for r in mtls_server.received] == [request.body, request.body]
    assert mtls_server.received[0].content_type == request.content_type
    # keep-alive: both requests came over the same client connection
    assert mtls_server.received[0].client_port == mtls_server.received[1].client_port


def test_nothing_keeps_the_request_once_sent(mtls_server: MtlsServer, wire_pki: TestPki) -> None:
    """httpx's response and its stream refer to each other: unless the transport breaks that cycle, each request (and
    the multi-megabyte MTOM body it carries) stays alive until the cycle collector happens to run."""

    def alive() -> int:
        return sum(isinstance(o, httpx.Request | httpx.Response) for o in gc.get_objects())

    gc.collect()
    gc.disable()
    try:
        with MtlsTransport(mtls_server.url, client_context(wire_pki)) as transport:
            transport.send(REQUEST)
            before = alive()
            for _ in range(3):
                transport.send(REQUEST)
            assert alive() == before
    finally:
        gc.enable()


def test_no_client_certificate_is_a_tls_rejection(
    mtls_server: MtlsServer, wire_pki: TestPki, tls_max: ssl.TLSVersion
) -> None:
    with MtlsTransport(mtls_server.url, client_context(wire_pki, maximum=tls_max, cert=None)) as transport:
        with pytest.raises(TlsError) as info:
            transport.send(REQUEST)
    assert info.value.problem is Problem.TLS_REJECTED
    assert info.value.retryable is False and info.value.ambiguous is False
    assert mtls_server.received == []


def test_client_certificate_from_another_ca_is_a_tls_rejection(
    mtls_server: MtlsServer, wire_pki: TestPki, foreign_client: tuple[Path, Path], tls_max: ssl.TLSVersion
) -> None:
    ctx = client_context(wire_pki, maximum=tls_max, cert=foreign_client)
    with MtlsTransport(mtls_server.url, ctx) as transport:
        with pytest.raises(TlsError) as info:
            transport.send(REQUEST)
    assert info.value.problem is Problem.TLS_REJECTED
    assert info.value.retryable is False
    assert mtls_server.received == []


def test_server_certificate_from_an_untrusted_ca(
    untrusted_server: MtlsServer, wire_pki: TestPki, tls_max: ssl.TLSVersion
) -> None:
    with MtlsTransport(untrusted_server.url, client_context(wire_pki, maximum=tls_max)) as transport:
        with pytest.raises(TlsError) as info:
            transport.send(REQUEST)
    assert info.value.problem is Problem.TLS_SERVER_UNTRUSTED
    assert info.value.retryable is False
    assert untrusted_server.received == []


def test_read_timeout_is_retryable_and_ambiguous(mtls_server: MtlsServer, wire_pki: TestPki) -> None:
    mtls_server.delay = 3.0
    with MtlsTransport(mtls_server.url, client_context(wire_pki), read_timeout=0.3) as transport:
        with pytest.raises(TransportError) as info:
            transport.send(REQUEST)
    assert info.value.problem is Problem.TRANSPORT_TIMEOUT
    assert info.value.retryable is True
    assert info.value.ambiguous is True  # the request reached the server
    assert [r.body for r in mtls_server.received] == [REQUEST.body]


def test_connection_refused_is_retryable_and_not_ambiguous(closed_port: int, wire_pki: TestPki) -> None:
    with MtlsTransport(f"https://localhost:{closed_port}/repository", client_context(wire_pki)) as transport:
        with pytest.raises(TransportError) as info:
            transport.send(REQUEST)
    assert info.value.problem is Problem.TRANSPORT_CONNECTION
    assert info.value.retryable is True and info.value.ambiguous is False
    assert not isinstance(info.value, TlsError)


def test_a_dropped_request_on_a_fresh_connection_is_not_mistaken_for_a_tls_rejection(
    dropping_server: DroppingServer, wire_pki: TestPki, tls_max: ssl.TLSVersion
) -> None:
    """Same symptom as a refused certificate under TLS 1.3 ("server disconnected"), but the server accepted us:
    the probe tells them apart, and the drop stays retryable (and ambiguous: the request was read)."""
    with MtlsTransport(dropping_server.url, client_context(wire_pki, maximum=tls_max)) as transport:
        with pytest.raises(TransportError) as info:
            transport.send(REQUEST)
    assert not isinstance(info.value, TlsError)
    assert info.value.problem is Problem.TRANSPORT_PROTOCOL
    assert info.value.retryable is True and info.value.ambiguous is True
    assert dropping_server.requests_read == 1


def test_soap_fault_answer_is_returned_then_mapped(mtls_server: MtlsServer, wire_pki: TestPki) -> None:
    fault = SoapFault("Sender", ("DMPInvalidCertificate",), "Not a valid signature certificate")
    body = build_fault(fault, relates_to=REQUEST.message_id, message_id="urn:uuid:f")
    mtls_server.handler = lambda _body: (500, "application/soap+xml; charset=UTF-8", body)
    with MtlsTransport(mtls_server.url, client_context(wire_pki)) as transport:
        response = transport.send(REQUEST)
    assert response.http_status == 500 and response.fault == fault
    with pytest.raises(RemoteRejectionError) as info:
        error_mapping.check_response(response, message_id=REQUEST.message_id)
    assert info.value.problem is Problem.DMP_INVALID_CERTIFICATE and info.value.retryable is False


@pytest.mark.parametrize(
    ("status", "problem", "retryable", "ambiguous"),
    [
        (503, Problem.DMP_HTTP_STATUS, True, False),
        (502, Problem.DMP_HTTP_STATUS, True, True),
        (404, Problem.DMP_UNEXPECTED_RESPONSE, False, True),
    ],
)
def test_non_soap_http_answers(
    mtls_server: MtlsServer, wire_pki: TestPki, status: int, problem: Problem, retryable: bool, ambiguous: bool
) -> None:
    mtls_server.handler = lambda _body: (status, "text/html", b"<html>proxy page</html>")
    with MtlsTransport(mtls_server.url, client_context(wire_pki)) as transport:
        with pytest.raises(TransportError) as info:
            transport.send(REQUEST)
    assert info.value.problem is problem
    assert (info.value.retryable, info.value.ambiguous) == (retryable, ambiguous)


def test_oversized_answer_is_refused(mtls_server: MtlsServer, wire_pki: TestPki) -> None:
    mtls_server.handler = lambda _body: (200, "application/soap+xml", b"<x/>" * 1000)
    with MtlsTransport(mtls_server.url, client_context(wire_pki), max_response_bytes=100) as transport:
        with pytest.raises(TransportError, match="larger than 100 bytes"):
            transport.send(REQUEST)


def test_insecure_configurations_are_refused(wire_pki: TestPki) -> None:
    with pytest.raises(FacadeError, match="https"):
        MtlsTransport("http://localhost/repository", client_context(wire_pki))
    unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(FacadeError, match="CERT_REQUIRED"):
        MtlsTransport("https://localhost/repository", unverified)


def test_function_transport_parses_raw_answers_like_the_real_one() -> None:
    answer = build_fault(SoapFault("Receiver", (), "down"), relates_to=None, message_id="urn:uuid:x")
    transport = FunctionTransport(lambda _request: ("application/soap+xml", answer))
    assert isinstance(transport, XdsTransport)
    response = transport.send(REQUEST)
    assert response.fault == SoapFault("Receiver", (), "down")
    assert transport.requests == [REQUEST]
