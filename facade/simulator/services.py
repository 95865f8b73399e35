"""The DMP's plain SOAP 1.2 services besides the repository: ``registry`` (ITI-18, ITI-57) and ``patients`` (TD0.2).

Each service answers a set of WS-A Actions. The envelope, the WS-Addressing headers and the VIHF (signature, then the
attribute rules, exactly as for ITI-41) are checked here once; a handler receives a ``VerifiedRequest`` and returns an
``Answer``. Handlers are registered per Action when the app is built (``create_simulator_app``), so each transaction
lives in its own module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lxml import etree

from facade.simulator.config import SimulatorConfig
from facade.simulator.iti41 import Answer, IncomingRequest
from facade.simulator.mime import content_type_params
from facade.simulator.soap12 import (
    SoapFault,
    best_effort_message_id,
    fault_response,
    parse_xml,
    read_envelope,
)
from facade.simulator.vihf import SignatureVerifier, Vihf, check_attributes, verify_and_read
from facade.soap.envelope import SOAP12_NS, WSA_FAULT_ACTION, WSA_NS, WSSE_NS

log = logging.getLogger("facade.simulator")

_UNDERSTOOD = frozenset({f"{{{WSA_NS}}}Action", f"{{{WSA_NS}}}ReplyTo", f"{{{WSA_NS}}}To", f"{{{WSSE_NS}}}Security"})


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose envelope and VIHF passed: what a handler needs."""

    action: str
    message_id: str
    body: etree._Element  # soap:Body
    vihf: Vihf
    incoming: IncomingRequest
    now: datetime

    @property
    def payload(self) -> etree._Element | None:
        """The first element child of soap:Body (AdhocQueryRequest, SubmitObjectsRequest, PRPA_IN201307UV02...)."""
        return next((c for c in self.body if isinstance(c.tag, str)), None)


Handler = Callable[[VerifiedRequest], Answer]


def soap_answer(envelope: bytes, action: str, outcome: str, status: int = 200) -> Answer:
    return Answer(status, f'application/soap+xml; charset=UTF-8; action="{action}"', envelope, outcome)


def fault_answer(fault: SoapFault, relates_to: str | None) -> Answer:
    log.info("simulator answers SOAP Fault %s: %s", fault.code, fault.reason)
    return soap_answer(fault_response(fault, relates_to), WSA_FAULT_ACTION, "fault", fault.http_status)


class PlainSoapService:
    """One DMP service endpoint: plain SOAP 1.2 (no MTOM), VIHF required, dispatch on wsa:Action."""

    def __init__(
        self,
        name: str,
        handlers: Mapping[str, Handler],
        *,
        ca_cert: Path,
        config: SimulatorConfig,
        clock: Callable[[], datetime],
        vihf_verifier: SignatureVerifier,
    ) -> None:
        self.name = name
        self.handlers = dict(handlers)
        self.ca_cert = ca_cert
        self.config = config
        self.clock = clock
        self.vihf_verifier = vihf_verifier

    def handle(self, request: IncomingRequest) -> Answer:
        now = self.clock()
        message_id = best_effort_message_id(request.body)
        try:
            verified = self._verify(request, now)
        except SoapFault as fault:
            return fault_answer(fault, message_id)
        return self.handlers[verified.action](verified)

    def _verify(self, request: IncomingRequest, now: datetime) -> VerifiedRequest:
        ctype, _ = content_type_params(request.content_type)
        if ctype != "application/soap+xml":
            raise SoapFault("Sender", f"Content-Type {ctype or '(absent)'} non supporté : application/soap+xml attendu")
        root = parse_xml(request.body, "Le message SOAP")
        if etree.QName(root).namespace != SOAP12_NS:
            raise SoapFault("VersionMismatch", "SOAP 1.2 attendu")
        envelope = read_envelope(root, understood_headers=_UNDERSTOOD, actions=frozenset(self.handlers))
        vihf = verify_and_read(envelope.security, ca_cert=self.ca_cert, now=now, verifier=self.vihf_verifier)
        check_attributes(vihf, config=self.config, client_cert=request.client_cert, now=now)
        return VerifiedRequest(envelope.action, envelope.message_id, envelope.body, vihf, request, now)
