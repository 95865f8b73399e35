"""Mutual-TLS HTTP transport to the DMP (spec §2.3; stack-notes §4), over ONE reused ``httpx.Client``.

TLS arrives as a ready ``ssl.SSLContext`` (built by ``facade.credentials.client_ssl_context``): httpx's
``cert=``/``verify="path"`` forms are never used (``verify=<str>`` silently drops the client certificate).

Every httpx / ssl / OS exception is translated in ONE place, :meth:`MtlsTransport._map_errors`, into
``TransportError`` / ``TlsError`` (facade/errors.py) with a Problem and two facts for the retry policy:

============================================  =========================  =========  =========
what happened                                 Problem                    retryable  ambiguous
============================================  =========================  =========  =========
server certificate not trusted                TLS_SERVER_UNTRUSTED       no         no
handshake refused (TLS 1.2: EOF / alert)      TLS_REJECTED               no         no
TLS 1.3: "server disconnected" on a FRESH     TLS_REJECTED               no         no
connection before any response, confirmed by
a handshake probe that is closed at once
same, but the probe shows the server accepts  TRANSPORT_PROTOCOL         yes        yes
us (it dropped the request itself)
connection broken on a reused connection or   TRANSPORT_PROTOCOL         yes        if sent
after the response started
connect / pool timeout                        TRANSPORT_TIMEOUT          yes        no
read timeout (the request was sent)           TRANSPORT_TIMEOUT          yes        YES
connection refused, DNS, unreachable          TRANSPORT_CONNECTION       yes        no
HTTP 429/502/503/504 without SOAP             DMP_HTTP_STATUS            yes        502/504
other non-SOAP HTTP answer                    DMP_UNEXPECTED_RESPONSE    no         yes
============================================  =========================  =========  =========

``ambiguous`` = the DMP may have processed the request: a later XDSDuplicateUniqueIdInRegistry for the same
documents then means this attempt landed (the outbox treats it as delivered).

Why the probe: with TLS 1.3 the client finishes its handshake before the server checks the client certificate, so a
rejected certificate shows up as "Server disconnected without sending a response" on the first request, exactly like
a server that dropped the request after reading it. Only the second case is retryable (and ambiguous), so on that
error we open one bare TLS connection and wait briefly: a server that refuses our certificate closes it (or sends an
alert) at once; one that accepts us waits for a request.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from facade.errors import DeliveryError, FacadeError, Problem, TlsError, TransportError
from facade.soap import mtom
from facade.soap.envelope import SOAP12_CONTENT_TYPE, SoapRequest, SoapResponse, parse_response

log = logging.getLogger(__name__)

_SOAP_MEDIA_TYPES = frozenset({"multipart/related", SOAP12_CONTENT_TYPE, "text/xml", "application/xml"})
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_AMBIGUOUS_HTTP = frozenset({502, 504})  # a gateway answered: the DMP behind it may have processed the request
# OpenSSL alert reasons meaning "the peer refused the handshake / our certificate"
_REJECTION_MARKERS = (
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "BAD_CERTIFICATE",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "UNSUPPORTED_CERTIFICATE",
    "ACCESS_DENIED",
    "HANDSHAKE_FAILURE",
    "DECRYPT_ERROR",
    "PROTOCOL_VERSION",
    "INSUFFICIENT_SECURITY",
)


@dataclass
class _Attempt:
    """What httpcore's trace extension told us about this request (which connection, how far it got)."""

    new_connection: bool = False
    tls_established: bool = False
    request_started: bool = False
    request_sent: bool = False
    response_started: bool = False

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.new_connection = True
        elif event == "connection.start_tls.complete":
            self.tls_established = True
        elif event == "http11.send_request_headers.started":
            self.request_started = True
        elif event == "http11.send_request_body.complete":
            self.request_sent = True
        elif event == "http11.receive_response_headers.complete":
            self.response_started = True


class MtlsTransport:
    """POSTs SOAP requests to one DMP endpoint over mutual TLS, with keep-alive. Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        url: str,
        ssl_context: ssl.SSLContext,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        write_timeout: float = 60.0,
        pool_timeout: float = 30.0,
        max_connections: int = 4,
        keepalive_expiry: float = 30.0,
        max_response_bytes: int = 32 * 1024 * 1024,
        probe_timeout: float = 1.0,
        user_agent: str = "dmp-facade",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise FacadeError(Problem.TRANSPORT_CONFIGURATION, url=url, reason="the DMP endpoint must be an https URL")
        if ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname:
            raise FacadeError(
                Problem.TRANSPORT_CONFIGURATION,
                url=url,
                reason="the SSL context must verify the server (CERT_REQUIRED and check_hostname)",
            )
        self.url = url
        self.ssl_context = ssl_context
        self.read_timeout = read_timeout
        self.max_response_bytes = max_response_bytes
        self.probe_timeout = probe_timeout
        self._host = parts.hostname
        self._port = parts.port or 443
        self._client = httpx.Client(
            verify=ssl_context,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
            ),
            trust_env=False,  # library code: no proxy / CA settings picked up from the environment
            follow_redirects=False,
            headers={"User-Agent": user_agent},
        )

    # ------------------------------------------------------------------------------------------------ public

    def send(self, request: SoapRequest) -> SoapResponse:
        attempt = _Attempt()
        headers = {"Content-Type": request.content_type, "Accept": f"multipart/related, {SOAP12_CONTENT_TYPE}"}
        if request.traceparent:
            headers["traceparent"] = request.traceparent
        http_request = self._client.build_request(
            "POST",
            self.url,
            content=request.body,
            headers=headers,
            extensions={"trace": attempt.trace},
        )
        with self._map_errors(attempt):
            response = self._client.send(http_request, stream=True)
            try:
                body = self._read_body(response)
            finally:
                response.close()
                # httpx's response and its stream refer to each other: left to the cycle collector they keep the
                # request, and the multi-megabyte MTOM body it carries, alive long after the attempt
                response.stream = httpx.ByteStream(b"")
        return self._to_soap_response(response.status_code, response.headers.get("content-type", ""), body)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MtlsTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --------------------------------------------------------------------------------------------- internals

    def _read_body(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise self._too_large(response.status_code, int(declared))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():  # raw: no transparent decompression into unbounded memory
            size += len(chunk)
            if size > self.max_response_bytes:
                raise self._too_large(response.status_code, size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, status: int, size: int) -> TransportError:
        return TransportError(
            Problem.DMP_UNEXPECTED_RESPONSE,
            retryable=False,
            ambiguous=True,
            url=self.url,
            status=status,
            content_type="-",
            reason=f"the answer is larger than {self.max_response_bytes} bytes ({size})",
        )

    def _to_soap_response(self, status: int, content_type: str, body: bytes) -> SoapResponse:
        media_type, _ = mtom.parse_content_type(content_type)
        if media_type not in _SOAP_MEDIA_TYPES:
            if status in _RETRYABLE_HTTP:
                raise TransportError(
                    Problem.DMP_HTTP_STATUS,
                    retryable=True,
                    ambiguous=status in _AMBIGUOUS_HTTP,
                    url=self.url,
                    status=status,
                    content_type=content_type or "no Content-Type",
                )
            raise TransportError(
                Problem.DMP_UNEXPECTED_RESPONSE,
                retryable=False,
                ambiguous=True,
                url=self.url,
                status=status,
                content_type=content_type or "no Content-Type",
                reason=body[:200].decode("utf-8", "replace"),
            )
        try:
            parsed = parse_response(content_type, body)
        except DeliveryError as exc:
            if status in _RETRYABLE_HTTP:  # a proxy's error page dressed as XML
                raise TransportError(
                    Problem.DMP_HTTP_STATUS,
                    retryable=True,
                    ambiguous=status in _AMBIGUOUS_HTTP,
                    url=self.url,
                    status=status,
                    content_type=content_type,
                ) from exc
            raise TransportError(
                Problem.SOAP_RESPONSE_INVALID, retryable=False, ambiguous=True, reason=exc.issues[0].message
            ) from exc
        return dataclasses.replace(parsed, http_status=status)

    @contextmanager
    def _map_errors(self, attempt: _Attempt) -> Iterator[None]:
        """The one translation point from httpx / ssl / OS exceptions to our DeliveryErrors."""
        try:
            yield
        except FacadeError:
            raise
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            error = self._classify(exc, attempt)
            if isinstance(error, TlsError):
                log.warning("TLS with %s failed: %s", self.url, error)
            raise error from exc

    def _classify(self, exc: BaseException, attempt: _Attempt) -> TransportError:
        reason = _describe(exc)
        url = self.url
        if isinstance(exc, httpx.ConnectTimeout):
            return TransportError(Problem.TRANSPORT_TIMEOUT, retryable=True, url=url, phase="connect", reason=reason)
        if isinstance(exc, httpx.PoolTimeout):
            return TransportError(Problem.TRANSPORT_TIMEOUT, retryable=True, url=url, phase="pool", reason=reason)
        if isinstance(exc, httpx.WriteTimeout):
            # the request did not fully leave us: the DMP cannot have processed it
            return TransportError(Problem.TRANSPORT_TIMEOUT, retryable=True, url=url, phase="write", reason=reason)
        if isinstance(exc, httpx.ReadTimeout | TimeoutError):
            return TransportError(
                Problem.TRANSPORT_TIMEOUT,
                retryable=True,
                ambiguous=True,  # sent, no answer: it may have been processed
                url=url,
                phase=f"read, {self.read_timeout:g} s",
                reason=reason,
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            return TransportError(Problem.TRANSPORT_CONFIGURATION, retryable=False, url=url, reason=reason)

        tls_error = _find_cause(exc, ssl.SSLError)
        if isinstance(tls_error, ssl.SSLCertVerificationError):
            return TlsError(Problem.TLS_SERVER_UNTRUSTED, url=url, reason=_describe(tls_error))
        if isinstance(exc, httpx.ConnectError) or not attempt.tls_established and not attempt.request_started:
            if tls_error is not None or (attempt.new_connection and _find_cause(exc, ConnectionResetError)):
                return TlsError(Problem.TLS_REJECTED, url=url, reason=_describe(tls_error or exc))
            return TransportError(Problem.TRANSPORT_CONNECTION, retryable=True, url=url, reason=reason)

        # the connection was up; it broke while sending or before / while reading the answer
        if tls_error is not None and _is_rejection_alert(tls_error) and not attempt.response_started:
            return TlsError(Problem.TLS_REJECTED, url=url, reason=_describe(tls_error))
        if attempt.new_connection and not attempt.response_started and self._probe_rejects_us():
            return TlsError(
                Problem.TLS_REJECTED,
                url=url,
                reason=f"{reason} (the server closes new TLS connections at once: client certificate refused)",
            )
        return TransportError(
            Problem.TRANSPORT_PROTOCOL, retryable=True, ambiguous=attempt.request_started, url=url, reason=reason
        )

    def _probe_rejects_us(self) -> bool:
        """Open one bare TLS connection; True when the server refuses it at once (see the module docstring)."""
        try:
            with socket.create_connection((self._host, self._port), timeout=self.probe_timeout) as raw:
                with self.ssl_context.wrap_socket(raw, server_hostname=self._host) as tls:
                    tls.settimeout(self.probe_timeout)
                    try:
                        return tls.recv(1) == b""  # EOF without a request: refused
                    except TimeoutError:
                        return False  # the server waits for a request: it accepted our certificate
                    except ssl.SSLError as exc:
                        return _is_rejection_alert(exc) or isinstance(exc, ssl.SSLEOFError)
                    except (ConnectionResetError, BrokenPipeError):
                        return True
        except ssl.SSLCertVerificationError:
            return False  # a different problem; the original error is reported as is
        except ssl.SSLError:
            return True  # refused during the handshake (TLS 1.2 shape)
        except OSError:
            return False  # cannot tell now: keep the retryable reading


def _find_cause(exc: BaseException, kind: type[BaseException]) -> Any:
    """Walk __cause__ / __context__ (httpx -> httpcore -> ssl / OSError) for an exception of ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _is_rejection_alert(exc: ssl.SSLError) -> bool:
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper()
    return any(marker in text for marker in _REJECTION_MARKERS)


def _describe(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(exc) or type(exc).__name__
    if root is not exc and str(root) and str(root) not in text:
        text = f"{text} ({type(root).__name__}: {root})"
    return text
