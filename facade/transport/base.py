"""The transport seam (httpx ``BaseTransport`` idea): one method, ``send(SoapRequest) -> SoapResponse``.

``MtlsTransport`` (facade/transport/mtls.py) is the real one; ``FunctionTransport`` wraps a plain function for unit
tests above the transport, the way ``httpx.MockTransport`` does. A transport returns whatever the DMP answered
(RegistryResponse, SOAP Fault) as data: ``facade.xds.error_mapping.check_response`` decides what it means. It raises
only when there is no SOAP answer at all (``facade.errors.TransportError`` with ``retryable`` / ``ambiguous``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from facade.soap.envelope import SoapRequest, SoapResponse, parse_response

Handler = Callable[[SoapRequest], "SoapResponse | tuple[str, bytes]"]


@runtime_checkable
class XdsTransport(Protocol):
    def send(self, request: SoapRequest) -> SoapResponse: ...


class FunctionTransport:
    """A transport backed by a function. The handler returns a SoapResponse, or (content type, body bytes) of a
    raw HTTP answer, which is parsed exactly as the real transport parses it."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[SoapRequest] = []  # what was sent, for assertions

    def send(self, request: SoapRequest) -> SoapResponse:
        self.requests.append(request)
        result = self._handler(request)
        if isinstance(result, SoapResponse):
            return result
        content_type, body = result
        return parse_response(content_type, body)

    def close(self) -> None:
        """Nothing to release (same surface as MtlsTransport)."""
