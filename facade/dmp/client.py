"""Calling a DMP service (registry, repository, patients) with its own VIHF, over the mutual-TLS transport.

Every DMP SOAP call carries a fresh VIHF built like the feeding one, its resource id being the patient's INS
(pdsm4dmp §3.1: "Every SOAP call (ITI-18, ITI-43, ITI-57 included) carries its own VIHF"). The client builds the
envelope (WS-A headers in the GIE order), sends it to the service's URL and returns the answer as data; what a fault
or a RegistryResponse means is the caller's business (one table: ``facade.xds.error_mapping``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from lxml import etree

from facade.errors import SecurityError
from facade.soap.envelope import SoapRequest, SoapResponse, build_envelope, build_plain_request
from facade.soap.saml import VihfSigner
from facade.soap.vihf_claims import VihfClaims, check_claims
from facade.transport.base import XdsTransport


class DmpService(StrEnum):
    """The DMP's SOAP services, named as the last segment of their URL (spec §2.2, pdsm4dmp §3.1)."""

    REPOSITORY = "repository"  # ITI-41, ITI-43
    REGISTRY = "registry"  # ITI-18, ITI-57
    PATIENTS = "patients"  # TD0.2 (HL7v3)


def service_url(repository_url: str, service: DmpService, configured: str = "") -> str:
    """The configured URL, else the repository URL with its last segment replaced (the DMP's URL shape)."""
    if configured:
        return configured
    base, _, _ = repository_url.rstrip("/").rpartition("/")
    return f"{base}/{service.value}"


@dataclass(frozen=True)
class DmpClient:
    vihf_signer: VihfSigner
    claims: VihfClaims  # everything but the patient
    transports: Mapping[DmpService, XdsTransport]
    urls: Mapping[DmpService, str]
    wsa_to_endpoint: bool
    now: Callable[[], datetime]

    def request(
        self, service: DmpService, action: str, body: Sequence[etree._Element], *, patient_ins_cx: str
    ) -> SoapRequest:
        """The plain SOAP 1.2 request, VIHF signed now; raises ``SecurityError`` when the VIHF rules fail."""
        claims = replace(self.claims, patient_ins_cx=patient_ins_cx)
        issues = [i for i in check_claims(claims) if i.is_error]
        if issues:
            raise SecurityError(issues[0].problem, issues=issues)
        assertion = self.vihf_signer.sign(claims, now=self.now(), assertion_id=f"_{uuid.uuid4()}")
        message_id = f"urn:uuid:{uuid.uuid4()}"
        envelope = build_envelope(
            body,
            action=action,
            to=self.urls[service] if self.wsa_to_endpoint else "",
            message_id=message_id,
            assertion=assertion,
        )
        return build_plain_request(envelope, message_id=message_id, action=action)

    def call(
        self, service: DmpService, action: str, body: Sequence[etree._Element], *, patient_ins_cx: str
    ) -> SoapResponse:
        """Send and return the answer as data (raises ``TransportError`` only when there is no SOAP answer)."""
        return self.transports[service].send(self.request(service, action, body, patient_ins_cx=patient_ins_cx))
