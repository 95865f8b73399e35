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
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lxml import etree

from facade import xmldoc
from facade.errors import FacadeError, Problem, RemoteRejectionError, SecurityError, TransportError
from facade.logs.trace import new_trace, parse_traceparent
from facade.model import oids
from facade.model.document import SignatureDocument, Submission
from facade.outbox.record import Failure, OutboxRecord, Payload, delivered_response
from facade.outbox.relay import DeliveryResult
from facade.pipeline import Conversion
from facade.soap.envelope import SoapRequest, build_provide_and_register
from facade.soap.saml import VihfSigner
from facade.soap.vihf_claims import Role, VihfClaims, check_claims
from facade.soap.xades import LotSigner
from facade.transport.base import XdsTransport
from facade.xds.error_mapping import check_response, is_duplicate

PREPARED_MEDIA_TYPE = "application/vnd.dmp-facade.prepared-submission.v2"
# Written before v2: every byte string base64 inside one JSON object (a 10 MB PDF stored as ~25 MB of text, decoded
# again on every attempt). Still read, so that a store written by an older version keeps delivering.
LEGACY_JSON_MEDIA_TYPE = "application/vnd.dmp-facade.prepared-submission+json"
SIGNATURE_ENTRY_ID = "Signature01"


@dataclass(frozen=True)
class PreparedSubmission:
    """Everything signed once: the metadata and the parts (documents + XAdES), in the order they are sent.

    Stored (``to_payload``) as one line of JSON naming the parts and their sizes, then the raw bytes of the
    SubmitObjectsRequest and of each part, back to back: the documents are never base64-encoded nor copied through
    JSON, and reading them back is slicing."""

    submit_objects_request: bytes
    parts: tuple[tuple[str, bytes | memoryview], ...]  # (ExtrinsicObject id, exact bytes; read back: views)
    patient_ins_cx: str
    subject: VihfSubject | None = None  # the VIHF subject when it is the submission's author (else configuration)

    def to_payload(self) -> Payload:
        header = {
            "patient": self.patient_ins_cx,
            "subject": self.subject.to_json() if self.subject else None,
            "parts": [pid for pid, _ in self.parts],
            "sizes": [len(self.submit_objects_request), *(len(data) for _, data in self.parts)],
        }
        line = json.dumps(header, separators=(",", ":")).encode() + b"\n"  # compact JSON holds no raw newline
        return Payload(PREPARED_MEDIA_TYPE, b"".join([line, self.submit_objects_request, *(d for _, d in self.parts)]))

    @classmethod
    def from_payload(cls, payload: Payload) -> PreparedSubmission:
        if payload.content_type == LEGACY_JSON_MEDIA_TYPE:
            return cls._from_legacy_json(payload.body)
        if payload.content_type != PREPARED_MEDIA_TYPE:
            raise FacadeError(Problem.CONFIGURATION, reason=f"unknown outbox payload type {payload.content_type}")
        body = payload.body
        end = body.index(b"\n")
        header = json.loads(body[:end])
        sizes: list[int] = header["sizes"]
        if len(sizes) != len(header["parts"]) + 1 or sum(sizes) != len(body) - end - 1:
            raise FacadeError(Problem.CONFIGURATION, reason="corrupt outbox payload: part sizes do not add up")
        # the parts are views of the payload, not copies: while a large document is sent, its bytes exist in the
        # payload and in the MTOM body, not a third time
        view, offset = memoryview(body), end + 1 + sizes[0]
        parts: list[bytes | memoryview] = []
        for size in sizes[1:]:
            parts.append(view[offset : offset + size])
            offset += size
        return cls(
            body[end + 1 : end + 1 + sizes[0]],
            tuple(zip(header["parts"], parts, strict=True)),
            header["patient"],
            VihfSubject.from_json(header["subject"]) if header.get("subject") else None,
        )

    @classmethod
    def _from_legacy_json(cls, data: bytes) -> PreparedSubmission:
        body = json.loads(data)
        return cls(
            base64.b64decode(body["submit_objects_request"]),
            tuple((pid, base64.b64decode(data)) for pid, data in body["parts"]),
            body["patient"],
            VihfSubject.from_json(body["subject"]) if body.get("subject") else None,
        )


@dataclass(frozen=True)
class VihfSubject:
    """Who the VIHF names when it is the health professional who authored the documents (issue 3: "role: AUTOMATE or
    the PS profession + speciality"): Subject/NameID = PS_IdNat, subject-id = name, roles = TRE_G15 (+ TRE_R01)."""

    name_id: str
    subject_id: str
    roles: tuple[Role, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name_id": self.name_id,
            "subject_id": self.subject_id,
            "roles": [[r.code, r.code_system, r.display, r.code_system_name] for r in self.roles],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VihfSubject:
        return cls(data["name_id"], data["subject_id"], tuple(Role(*r) for r in data["roles"]))


_J01 = re.compile(r"^G15_(?P<profession>[0-9A-Z]+)(?:/(?P<speciality>[0-9A-Z_]+))?$")


def author_subject(submission: Submission) -> VihfSubject:
    """The VIHF subject from the first person author (documents first, then the submission set author)."""
    authors = [a for d in submission.documents for a in d.document.authors] + [submission.author]
    person = next((a.person for a in authors if a.person is not None), None)
    if person is None:
        raise SecurityError(Problem.VIHF_ROLE, value="(none)", reason="the VIHF names the author: no person author")
    roles: list[Role] = []
    match = _J01.match(person.profession.code) if person.profession else None
    if match:
        roles.append(Role(match["profession"], oids.TRE_G15_PROFESSION_SANTE, None, "TRE_G15-ProfessionSante"))
        if match["speciality"]:
            roles.append(
                Role(match["speciality"], oids.TRE_R01_ENSEMBLE_SAVOIR_FAIRE, None, "TRE_R01-EnsembleSavoirFaire")
            )
    elif person.profession is not None:
        raise SecurityError(
            Problem.VIHF_ROLE,
            value=person.profession.code,
            reason="not a G15_<profession>[/<speciality>] code (JDV_J01): no VIHF role can be derived",
        )
    name = " ".join([*person.given[:1], person.family]).strip()
    organization = next((a.organization.name for a in authors if a.person is person), "")
    return VihfSubject(person.id_nat, f"{name} ({organization})" if organization else name, tuple(roles))


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
        subject_from_author: bool = False,
    ) -> None:
        self.subject_from_author = subject_from_author
        self.vihf_signer = vihf_signer
        self.lot_signer = lot_signer
        self.claims = claims
        self.transport = transport
        self.wsa_to = wsa_to
        self.now = now
        self.new_oid = new_oid

    def claims_for(self, patient_ins_cx: str, subject: VihfSubject | None = None) -> VihfClaims:
        claims = replace(self.claims, patient_ins_cx=patient_ins_cx)
        if subject is not None:
            claims = replace(claims, name_id=subject.name_id, subject_id=subject.subject_id, roles=subject.roles)
        return claims

    def prepare(self, conversion: Conversion) -> PreparedSubmission:
        submission = conversion.mapping.submission
        subject = author_subject(submission) if self.subject_from_author else None
        claims = self.claims_for(submission.patient.ins.cx(), subject)
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
        return PreparedSubmission(sor, parts, claims.patient_ins_cx, subject)

    def build_request(self, prepared: PreparedSubmission, *, traceparent: str | None = None) -> SoapRequest:
        """A fresh VIHF and envelope; ``traceparent``: the submission's span, whose child this HTTP request is."""
        assertion = self.vihf_signer.sign(
            self.claims_for(prepared.patient_ins_cx, prepared.subject), now=self.now(), assertion_id=f"_{uuid.uuid4()}"
        )
        request = build_provide_and_register(
            xmldoc.parse_own(prepared.submit_objects_request),  # our own bytes, back from the outbox
            prepared.parts,
            assertion,
            to=self.wsa_to,
            message_id=f"urn:uuid:{uuid.uuid4()}",
        )
        parent = parse_traceparent(traceparent)
        # a record stored without a trace (older versions) still gets one: the DMP side can correlate its attempts
        return replace(request, traceparent=(parent.child() if parent else new_trace()).traceparent)

    def deliver(self, record: OutboxRecord) -> DeliveryResult:
        """One attempt. Never raises for a delivery problem: the relay needs a classified result."""
        try:
            prepared = PreparedSubmission.from_payload(record.payload)
            request = self.build_request(prepared, traceparent=record.traceparent)
            response = self.transport.send(request)
            warnings = check_response(response, message_id=request.message_id)
        except TransportError as exc:
            failure = Failure.from_error(exc)
            if exc.retryable:
                return DeliveryResult.retryable(failure, ambiguous=exc.ambiguous)
            return DeliveryResult.permanent(failure, ambiguous=exc.ambiguous)
        except RemoteRejectionError as exc:
            failure = Failure.from_error(exc)
            reg = exc.response.registry_response if exc.response is not None else None
            if reg is not None and is_duplicate(reg):
                return DeliveryResult.duplicate(failure)
            return DeliveryResult.retryable(failure) if exc.retryable else DeliveryResult.permanent(failure)
        except FacadeError as exc:  # signing / configuration: retrying cannot help
            return DeliveryResult.permanent(Failure.from_error(exc))
        # the stored failure / warnings are domain issues: the API renders them, so every later answer repeats them
        return DeliveryResult.delivered(delivered_response(warnings))
