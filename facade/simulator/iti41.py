"""ITI-41 Provide and Register Document Set-b, as the simulated DMP repository processes it.

Order: MTOM → SOAP 1.2 + WS-A → VIHF (signature, certificate, attributes) → metadata rules → XAdES lot signature
→ registry. Envelope, WS-A and VIHF problems are SOAP Faults; metadata problems are collected (all of them) into one
RegistryResponse Failure; nothing is stored unless the whole submission is accepted.

Error codes (IHE ITI TF-3 4.2.4 + spec §8): XDSMissingDocument / XDSMissingDocumentMetadata (Document ↔
ExtrinsicObject), XDSNonIdenticalHash / XDSNonIdenticalSize, XDSDocumentUniqueIdError (uniqueId ≠ CDA id),
XDSDuplicateUniqueIdInRegistry, XDSRegistryDuplicateUniqueIdInMessage, XDSPatientIdDoesNotMatch, XDSUnknownPatientId
(INS unknown to the DMP: OID not accepted, bad key, or listed as unknown), and for a replacement (RPLC):
UnresolvedReferenceException (target entryUUID unknown), XDSRegistryDeprecatedDocumentError (target already replaced,
also when another submission replaced it meanwhile), XDSPatientIdDoesNotMatch (another patient's). The spec digest and
the kit name no DMP-specific code for these: the IHE ones, which facade/xds/error_mapping.py already reads.
XDSRegistryMetadataError for the rest, including an invalid XAdES lot signature. An accepted RPLC deprecates the
replaced entry in the same registry transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography import x509

from facade.simulator import metadata as md
from facade.simulator.config import SimulatorConfig
from facade.simulator.iti41_rules import MetadataChecks
from facade.simulator.metadata import read_submission
from facade.simulator.mime import MimeError, MimePart, content_type_params, parse_multipart_related
from facade.simulator.registry import NewDocument, Registry, ReplacedMeanwhile
from facade.simulator.script import Behaviour, Script, Step
from facade.simulator.soap12 import (
    PNR_RESPONSE_ACTION,
    WSA_FAULT_ACTION,
    WSA_NS,
    WSSE_NS,
    SoapFault,
    best_effort_message_id,
    fault_response,
    mtom_response,
    parse_xml,
    read_envelope,
    registry_response,
)
from facade.simulator.vihf import SignatureVerifier, check_attributes, verify_and_read
from facade.soap.registry_response import RegistryError

log = logging.getLogger("facade.simulator")

_UNDERSTOOD = frozenset(
    {f"{{{WSA_NS}}}{n}" for n in ("Action", "MessageID", "ReplyTo", "To", "From", "FaultTo")}
    | {f"{{{WSSE_NS}}}Security"}
)


class CodeChecker(Protocol):
    """Is ``code`` (in coding scheme ``system``, an OID or URN/ASTM) a member of the DMP value set ``value_set``?"""

    def __call__(self, value_set: str, code: str, system: str | None) -> bool: ...


# (xades bytes, {uniqueId: bytes} of the signed documents, CA file, submission set uniqueId, now) -> None; raises
# LotSignatureError naming what failed
LotVerifier = Callable[[bytes, Mapping[str, bytes], Path, str, datetime], None]


@dataclass(frozen=True)
class IncomingRequest:
    content_type: str
    body: bytes
    client_cert: x509.Certificate | None
    request_number: int | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    outcome: str  # "success", "failure", "fault": for logs and the admin API


class Iti41Processor:
    def __init__(
        self,
        *,
        registry: Registry,
        script: Script,
        ca_cert: Path,
        config: SimulatorConfig,
        clock: Callable[[], datetime],
        vihf_verifier: SignatureVerifier,
        lot_verifier: LotVerifier,
        code_checker: CodeChecker | None,
        dmp_state: Callable[[str], str | None] = lambda ins: None,  # INS -> TD0.2 state (open, closed, none)
    ) -> None:
        self.dmp_state = dmp_state
        self.registry = registry
        self.script = script
        self.ca_cert = ca_cert
        self.config = config
        self.clock = clock
        self.vihf_verifier = vihf_verifier
        self.lot_verifier = lot_verifier
        self.code_checker = code_checker

    # --- entry point ---

    def handle(self, request: IncomingRequest, step: Step) -> Answer:
        """Answer one request according to the scripted step (``ok``/``slow`` = real processing)."""
        if step.behaviour in (Behaviour.OK, Behaviour.SLOW):
            return self._process(request)
        message_id = self._message_id(request)
        if step.behaviour is Behaviour.SOAP_FAULT:
            return self._fault(SoapFault("Receiver", "Erreur interne du service (simulée)"), message_id)
        code, context = {
            Behaviour.BUSY: ("XDSRegistryBusy", "Le registre est momentanément indisponible (simulé)"),
            Behaviour.REPOSITORY_BUSY: ("XDSRepositoryBusy", "L'entrepôt est momentanément indisponible (simulé)"),
            Behaviour.METADATA_ERROR: ("XDSRegistryMetadataError", "Métadonnées refusées (simulé)"),
            Behaviour.UNKNOWN_PATIENT: ("XDSUnknownPatientId", "Patient inconnu du DMP (simulé)"),
        }[step.behaviour]
        return self._registry_answer([RegistryError(code, context, "")], message_id)

    # --- plumbing ---

    def _message_id(self, request: IncomingRequest) -> str | None:
        try:
            root_xml, _ = self._unpack(request)
        except SoapFault:
            return None
        return best_effort_message_id(root_xml)

    def _fault(self, fault: SoapFault, relates_to: str | None) -> Answer:
        log.info(
            "simulator answers SOAP Fault %s %s: %s",
            fault.code,
            fault.subcode.local if fault.subcode else "-",
            fault.reason,
        )
        return self._answer(fault.http_status, fault_response(fault, relates_to), WSA_FAULT_ACTION, "fault")

    def _registry_answer(self, errors: Sequence[RegistryError], relates_to: str | None) -> Answer:
        failed = any(e.is_error for e in errors)
        for e in errors:
            log.info("simulator RegistryError %s at %s: %s", e.error_code, e.location, e.code_context)
        body = registry_response(errors, relates_to)
        return self._answer(200, body, PNR_RESPONSE_ACTION, "failure" if failed else "success")

    def _answer(self, status: int, envelope: bytes, action: str, outcome: str) -> Answer:
        if self.config.response_mtom:
            content_type, body = mtom_response(envelope, action)
            return Answer(status, content_type, body, outcome)
        return Answer(status, f'application/soap+xml; charset=UTF-8; action="{action}"', envelope, outcome)

    def _unpack(self, request: IncomingRequest) -> tuple[bytes, dict[str, MimePart]]:
        ctype, params = content_type_params(request.content_type)
        if ctype == "application/soap+xml":
            return request.body, {}
        if ctype != "multipart/related":
            raise SoapFault(
                "Sender", f"Content-Type {ctype or '(absent)'} non supporté : MTOM multipart/related attendu"
            )
        try:
            mime = parse_multipart_related(request.content_type, request.body)
        except MimeError as exc:
            raise SoapFault("Sender", f"Message MTOM illisible : {exc}") from exc
        if params.get("type", "").lower() != "application/xop+xml":
            raise SoapFault("Sender", 'multipart/related sans type="application/xop+xml" (MTOM/XOP)')
        root_type, root_params = content_type_params(mime.root.content_type)
        if root_type != "application/xop+xml" or root_params.get("type", "").lower() != "application/soap+xml":
            raise SoapFault("Sender", 'La partie racine doit être application/xop+xml; type="application/soap+xml"')
        return mime.root.data, mime.parts

    # --- the real processing ---

    def _process(self, request: IncomingRequest) -> Answer:
        now = self.clock()
        message_id: str | None = None
        try:
            root_xml, parts = self._unpack(request)
            message_id = best_effort_message_id(root_xml)
            envelope = read_envelope(parse_xml(root_xml, "La partie SOAP"), understood_headers=_UNDERSTOOD)
            message_id = envelope.message_id
            vihf = verify_and_read(envelope.security, ca_cert=self.ca_cert, now=now, verifier=self.vihf_verifier)
            check_attributes(vihf, config=self.config, client_cert=request.client_cert, now=now)
            submission = read_submission(envelope.body, parts)
        except SoapFault as fault:
            return self._fault(fault, message_id)
        if submission.unused_parts:
            log.info("simulator: MIME parts referenced by no xdsb:Document: %s", submission.unused_parts)

        checked = MetadataChecks(self, submission, vihf, now)
        errors = checked.run()
        if any(e.is_error for e in errors):
            return self._registry_answer(errors, message_id)
        try:
            self._store(checked, request, now)
        except ReplacedMeanwhile as exc:  # another submission replaced the same entry since the checks
            errors.append(RegistryError("XDSRegistryDeprecatedDocumentError", str(exc), exc.entry_uuid))
        return self._registry_answer(errors, message_id)

    def _store(self, checked: MetadataChecks, request: IncomingRequest, now: datetime) -> None:
        ss = checked.ss
        assert ss is not None and checked.ss_unique_id is not None and checked.patient_cx is not None
        docs = []
        for entry in checked.submission.entries:
            content = checked.submission.documents[entry.id]
            assert content.data is not None
            classes = entry.coded(md.DE_CLASS)
            types = entry.coded(md.DE_TYPE)
            formats = entry.coded(md.DE_FORMAT)
            docs.append(
                NewDocument(
                    unique_id=entry.external_id(md.DE_UNIQUE_ID) or "",
                    patient_id=entry.external_id(md.DE_PATIENT_ID) or "",
                    mime_type=entry.mime_type,
                    data=content.data,
                    hash=hashlib.sha1(content.data).hexdigest(),  # noqa: S324 (XDS hash is SHA-1 by definition)
                    class_code=classes[0].code if classes else None,
                    type_code=types[0].code if types else None,
                    format_code=formats[0].code if formats else None,
                    is_signature=entry.id == checked.signature_id,
                    replaces=checked.replaces.get(entry.id),
                    entry_uuid=entry.id if entry.id.startswith("urn:uuid:") else None,
                    metadata=entry.element,
                )
            )
        stored = self.registry.store(
            submission_unique_id=checked.ss_unique_id,
            patient_id=checked.patient_cx,
            source_id=ss.external_id(md.SS_SOURCE_ID),
            received_at=now.isoformat(),
            request_number=request.request_number,
            documents=docs,
        )
        log.info("simulator stored submission %s: %s", checked.ss_unique_id, [d.unique_id for d in stored])
