"""The facade's outer edge in tests: the production runtime wired to a DMP that answers through a function (real SOAP
1.2 bytes parsed by the real response parser). Over-the-wire tests with the simulator live in tests/e2e."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from facade.cli import demo_settings
from facade.pki import TestPki
from facade.runtime import Runtime
from facade.soap.envelope import SoapRequest, build_response
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus
from facade.transport.base import FunctionTransport

DMP_URL = "https://dmp.invalid/si-dmp-server/v2/services/repository"  # never contacted
Handler = Callable[[SoapRequest], tuple[str, bytes]]


def registry_answer(*errors: RegistryError, status: ResponseStatus | None = None) -> Handler:
    """A DMP answering a RegistryResponse: Success without errors, Failure with them (unless ``status`` says)."""

    def handle(request: SoapRequest) -> tuple[str, bytes]:
        st = status or (ResponseStatus.FAILURE if errors else ResponseStatus.SUCCESS)
        body = build_response(
            RegistryResponse(st, tuple(errors)), relates_to=request.message_id, message_id=f"urn:uuid:{uuid.uuid4()}"
        )
        return "application/soap+xml; charset=UTF-8", body

    return handle


def sending_runtime(state_dir: Path, pki: TestPki, handler: Handler | None = None) -> tuple[Runtime, FunctionTransport]:
    """Development settings with sending configured, the background relay off (tests drive retries), and the
    transport replaced by ``handler``. Adjust ``runtime.settings`` before the first request if needed."""
    settings = demo_settings(state_dir, DMP_URL, pki)
    settings.outbox.relay = False  # type: ignore[attr-defined]
    runtime = Runtime(settings)  # type: ignore[arg-type]
    transport = FunctionTransport(handler or registry_answer())
    runtime.__dict__["transport"] = transport  # the edge: everything else is the production wiring
    return runtime, transport
