"""Feeding the DMP (TD2.1 / ITI-41): prepare once, then build a fresh VIHF + envelope for every attempt.

``Feeder.prepare`` runs when a submission is accepted: VIHF rules are checked, the XAdES "signature du lot" is
computed over the exact document bytes, and the SubmitObjectsRequest (with the signature DocumentEntry and the
``signs`` association) is built. The result is what the outbox stores. ``Feeder.deliver`` runs per attempt: a new
VIHF (its IssueInstant must be fresh: a retry hours later must not replay a stale token) and a new MessageID, then
the transport, then the one classification of the answer for the relay.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lxml import etree

from facade import xmldoc
from facade.api.outcomes import operation_outcome
from facade.errors import FacadeError, Issue, Problem, RemoteRejectionError, SecurityError, TransportError
from facade.model.document import SignatureDocument
from facade.outbox.record import Failure, OutboxRecord, Payload
from facade.outbox.relay import DeliveryResult
from facade.pipeline import Conversion
from facade.soap.envelope import SoapRequest, build_provide_and_register
from facade.soap.saml import VihfClaims, VihfSigner, check_claims
from facade.soap.xades import LotSigner
from facade.transport.base import XdsTransport
from facade.xds.error_mapping import check_response, is_duplicate

PREPARED_MEDIA_TYPE = "application/vnd.dmp-facade.prepared-submission+json"
SIGNATURE_ENTRY_ID = "Signature01"


@dataclass(frozen=True)
class PreparedSubmission:
    """Everything signed once: the metadata and the parts (documents + XAdES), in the order they are sent."""

    submit_objects_request: bytes
    parts: tuple[tuple[str, bytes], ...]  # (ExtrinsicObject id, exact bytes)
    patient_ins_cx: str

    def to_payload(self) -> Payload:
        body = {
            "submit_objects_request": base64.b64encode(self.submit_objects_request).decode("ascii"),
            "parts": [[pid, base64.b64encode(data).decode("ascii")] for pid, data in self.parts],
            "patient": self.patient_ins_cx,
        }
        return Payload(PREPARED_MEDIA_TYPE, json.dumps(body, separators=(",", ":")).encode())

    @classmethod
    def from_payload(cls, payload: Payload) -> PreparedSubmission:
        if payload.content_type != PREPARED_MEDIA_TYPE:
            raise FacadeError(Problem.CONFIGURATION, reason=f"unknown outbox payload type {payload.content_type}")
        body = json.loads(payload.body)
        return cls(
            base64.b64decode(body["submit_objects_request"]),
            tuple((pid, base64.b64decode(data)) for pid, data in body["parts"]),
            body["patient"],
        )


class Feeder:
    def __init__(
        self,
        *,
        vihf_signer: VihfSigner,
        lot_signer: LotSigner,
        claims: VihfClaims,  # everything but the patient, which is per submission
        transport: XdsTransport,
        wsa_to: str,
        now: Callable[[], datetime],
        new_oid: Callable[[], str],
    ) -> None:
        self.vihf_signer = vihf_signer
        self.lot_signer = lot_signer
        self.claims = claims
        self.transport = transport
        self.wsa_to = wsa_to
        self.now = now
        self.new_oid = new_oid

    def claims_for(self, patient_ins_cx: str) -> VihfClaims:
        return replace(self.claims, patient_ins_cx=patient_ins_cx)

    def prepare(self, conversion: Conversion) -> PreparedSubmission:
        submission = conversion.mapping.submission
        claims = self.claims_for(submission.patient.ins.cx())
        issues = [i for i in check_claims(claims) if i.is_error]
        if issues:  # checked before anything is signed or stored (issue 3: rules reported as OperationOutcome)
            raise SecurityError(issues[0].problem, issues=issues)
        now = self.now()
        signature_xml = self.lot_signer.sign(
            submission_unique_id=submission.unique_id,
            documents=[(d.request.document.id, d.cda) for d in conversion.documents],
            now=now,
            signature_id=f"_{uuid.uuid4()}",
        )
        signature = SignatureDocument(SIGNATURE_ENTRY_ID, self.new_oid(), signature_xml, now)
        sor = etree.tostring(conversion.submit_objects_request(signature), encoding="UTF-8")
        parts = tuple((d.request.entry_id, d.cda) for d in conversion.documents) + (
            (SIGNATURE_ENTRY_ID, signature_xml),
        )
        return PreparedSubmission(sor, parts, claims.patient_ins_cx)

    def build_request(self, prepared: PreparedSubmission) -> SoapRequest:
        assertion = self.vihf_signer.sign(
            self.claims_for(prepared.patient_ins_cx), now=self.now(), assertion_id=f"_{uuid.uuid4()}"
        )
        return build_provide_and_register(
            xmldoc.parse(prepared.submit_objects_request),  # our own bytes, back from the outbox
            prepared.parts,
            assertion,
            to=self.wsa_to,
            message_id=f"urn:uuid:{uuid.uuid4()}",
        )

    def deliver(self, record: OutboxRecord) -> DeliveryResult:
        """One attempt. Never raises for a delivery problem: the relay needs a classified result."""
        try:
            request = self.build_request(PreparedSubmission.from_payload(record.payload))
            response = self.transport.send(request)
            warnings = check_response(response, message_id=request.message_id)
        except TransportError as exc:
            failure = failure_from(exc)
            if exc.retryable:
                return DeliveryResult.retryable(failure, ambiguous=exc.ambiguous)
            return DeliveryResult.permanent(failure, ambiguous=exc.ambiguous)
        except RemoteRejectionError as exc:
            failure = failure_from(exc)
            reg = exc.response.registry_response if exc.response is not None else None
            if reg is not None and is_duplicate(reg):
                return DeliveryResult.duplicate(failure)
            return DeliveryResult.retryable(failure) if exc.retryable else DeliveryResult.permanent(failure)
        except FacadeError as exc:  # signing / configuration: retrying cannot help
            return DeliveryResult.permanent(failure_from(exc))
        return DeliveryResult.delivered(delivered_summary(warnings))


def failure_from(exc: FacadeError) -> Failure:
    """The stored failure carries the ready OperationOutcome and status, so any later answer repeats it exactly."""
    return Failure.from_error(exc).with_details(http_status=exc.http_status, outcome=operation_outcome(exc.issues))


def delivered_summary(warnings: list[Issue]) -> dict[str, Any]:
    return {"status": "Success", "warnings": operation_outcome(warnings) if warnings else None}
