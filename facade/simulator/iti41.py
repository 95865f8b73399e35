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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography import x509

from facade.simulator import metadata as md
from facade.simulator.config import SimulatorConfig
from facade.simulator.metadata import RegistryObject, SubmissionRequest, read_submission
from facade.simulator.mime import MimeError, MimePart, content_type_params, parse_multipart_related
from facade.simulator.registry import APPROVED, DEPRECATED, NewDocument, Registry, ReplacedMeanwhile
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
from facade.simulator.vihf import ATTR_RESOURCE_ID, SignatureVerifier, Vihf, check_attributes, verify_and_read
from facade.soap.registry_response import RegistryError, Severity

log = logging.getLogger("facade.simulator")

CDA_NS = "urn:hl7-org:v3"
XMLDSIG_FORMAT = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
SIGNATURE_TYPE = ("E1762", "ASTM")

_UNDERSTOOD = frozenset(
    {f"{{{WSA_NS}}}{n}" for n in ("Action", "MessageID", "ReplyTo", "To", "From", "FaultTo")}
    | {f"{{{WSSE_NS}}}Security"}
)
_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_DTM = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?$")
_CX = re.compile(r"^([^^&]+)\^\^\^&([0-9.]+)&ISO\^NH(\^.*)?$")
_NIR = re.compile(r"^[1-478]\d{4}(\d{2}|2A|2B)\d{6}\d{2}$")


class CodeChecker(Protocol):
    """Is ``code`` (in coding scheme ``system``, an OID or URN/ASTM) a member of the DMP value set ``value_set``?"""

    def __call__(self, value_set: str, code: str, system: str | None) -> bool: ...


# (xades bytes, {uniqueId: bytes} of the signed documents, CA file, submission set uniqueId, now) -> None; raises
# LotSignatureError naming what failed
LotVerifier = Callable[[bytes, Mapping[str, bytes], Path, str, datetime], None]


class LotSignatureError(Exception):
    pass


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


def ins_key_valid(value: str) -> bool:
    """NIR/NIA matricule: 13 characters + key = 97 - (body mod 97), Corsica 2A→19, 2B→18 (spec §5.2)."""
    if not _NIR.match(value):
        return False
    body = value[:5] + {"2A": "19", "2B": "18"}.get(value[5:7], value[5:7]) + value[7:13]
    return int(value[13:]) == 97 - int(body) % 97


def parse_cx(value: str) -> tuple[str, str] | None:
    """``<id>^^^&<OID>&ISO^NH[^...]`` → (id, OID)."""
    m = _CX.match(value.strip())
    return (m.group(1), m.group(2)) if m else None


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
    ) -> None:
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

        checked = _Checks(self, submission, vihf, now)
        errors = checked.run()
        if any(e.is_error for e in errors):
            return self._registry_answer(errors, message_id)
        try:
            self._store(checked, request, now)
        except ReplacedMeanwhile as exc:  # another submission replaced the same entry since the checks
            errors.append(RegistryError("XDSRegistryDeprecatedDocumentError", str(exc), exc.entry_uuid))
        return self._registry_answer(errors, message_id)

    def _store(self, checked: _Checks, request: IncomingRequest, now: datetime) -> None:
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


class _Checks:
    """All the metadata rules over one submission; ``run`` returns every RegistryError found."""

    def __init__(self, processor: Iti41Processor, submission: SubmissionRequest, vihf: Vihf, now: datetime) -> None:
        self.p = processor
        self.now = now
        self.submission = submission
        self.vihf = vihf
        self.errors: list[RegistryError] = []
        self.ss: RegistryObject | None = None
        self.ss_unique_id: str | None = None
        self.patient_cx: str | None = None
        self.patient: tuple[str, str] | None = None
        self.signature_id: str | None = None
        self.replaces: dict[str, str] = {}

    def error(self, code: str, context: str, location: str = "", *, warning: bool = False) -> None:
        self.errors.append(RegistryError(code, context, location, Severity.WARNING if warning else Severity.ERROR))

    def run(self) -> list[RegistryError]:
        self._structure()
        self._submission_set()
        unique_ids = self._entries()
        self._unique_ids(unique_ids)
        self._associations()
        if not any(e.is_error for e in self.errors):
            self._lot_signature(unique_ids)
        return self.errors

    # -- shape --

    def _structure(self) -> None:
        s = self.submission
        if len(s.submission_sets) != 1:
            self.error(
                "XDSRegistryMetadataError",
                f"Un lot de soumission (RegistryPackage SubmissionSet) attendu, {len(s.submission_sets)} trouvé(s)",
            )
        else:
            self.ss = s.submission_sets[0]
        if not s.entries:
            self.error("XDSRegistryMetadataError", "Aucune fiche document (ExtrinsicObject)")
        entry_ids = {e.id for e in s.entries}
        for entry in s.entries:
            content = s.documents.get(entry.id)
            if content is None:
                self.error("XDSMissingDocument", f"Aucun xdsb:Document pour la fiche {entry.id}", entry.id)
            elif content.data is None:
                self.error("XDSMissingDocument", f"Document {entry.id} : {content.problem}", entry.id)
        for doc_id in s.documents:
            if doc_id not in entry_ids:
                self.error("XDSMissingDocumentMetadata", f"xdsb:Document {doc_id} sans ExtrinsicObject", doc_id)
        for doc_id in s.duplicate_document_ids:
            self.error("XDSRegistryMetadataError", f"xdsb:Document {doc_id} présent plusieurs fois", doc_id)
        if len(entry_ids) != len(s.entries):
            self.error("XDSRegistryMetadataError", "Deux ExtrinsicObject ont le même id")

    # -- patient --

    def _patient(self, cx: str | None, location: str) -> tuple[str, str] | None:
        if not cx:
            self.error("XDSRegistryMetadataError", "patientId absent", location)
            return None
        parsed = parse_cx(cx)
        if parsed is None:
            self.error("XDSRegistryMetadataError", f"patientId {cx} n'est pas un CX <INS>^^^&<OID>&ISO^NH", location)
            return None
        ins, oid = parsed
        if oid not in self.p.config.accepted_ins_oids:
            self.error("XDSUnknownPatientId", f"Domaine d'identification {oid} inconnu du DMP", location)
        elif not ins_key_valid(ins):
            self.error("XDSUnknownPatientId", f"INS {ins} invalide (clé de contrôle)", location)
        elif self.p.script.is_unknown(ins) or ins in self.p.config.unknown_ins:
            self.error("XDSUnknownPatientId", f"Patient {ins} inconnu du DMP", location)
        return parsed

    # -- SubmissionSet --

    def _submission_set(self) -> None:
        ss = self.ss
        if ss is None:
            return
        loc = ss.id
        self.ss_unique_id = ss.external_id(md.SS_UNIQUE_ID)
        if not self.ss_unique_id or not _OID.match(self.ss_unique_id) or len(self.ss_unique_id) > 64:
            self.error("XDSRegistryMetadataError", f"uniqueId du lot {self.ss_unique_id!r} n'est pas un OID", loc)
            self.ss_unique_id = None
        source = ss.external_id(md.SS_SOURCE_ID)
        if not source or not _OID.match(source):
            self.error("XDSRegistryMetadataError", f"sourceId du lot {source!r} n'est pas un OID", loc)
        self.patient_cx = ss.external_id(md.SS_PATIENT_ID)
        self.patient = self._patient(self.patient_cx, loc)
        if not _DTM.match(ss.slot("submissionTime") or ""):
            self.error("XDSRegistryMetadataError", "submissionTime absent ou mal formé", loc)
        if not ss.coded(md.SS_AUTHOR):
            self.error("XDSRegistryMetadataError", "Auteur du lot absent", loc)
        self._one_code(ss, md.SS_CONTENT_TYPE, "contentTypeCode", "contentTypeCode")
        if self.patient is not None:
            resource = self.vihf.value(ATTR_RESOURCE_ID) or ""
            if parse_cx(resource) is None or parse_cx(resource)[:2] != self.patient:  # type: ignore[index]
                self.error(
                    "XDSPatientIdDoesNotMatch",
                    f"Le resource-id du VIHF ({resource}) n'est pas le patient du lot ({self.patient_cx})",
                    loc,
                )

    # -- DocumentEntries --

    def _one_code(self, obj: RegistryObject, scheme: str, name: str, value_set: str | None) -> None:
        codes = obj.coded(scheme)
        if len(codes) != 1:
            self.error("XDSRegistryMetadataError", f"{name} : 1 valeur attendue, {len(codes)} trouvée(s)", obj.id)
            return
        self._code(obj, codes[0], name, value_set)

    def _code(self, obj: RegistryObject, coded: md.Coded, name: str, value_set: str | None) -> None:
        if not coded.code or not coded.coding_scheme:
            self.error("XDSRegistryMetadataError", f"{name} sans code ou sans codingScheme", obj.id)
            return
        checker = self.p.code_checker
        if value_set and checker is not None and self.p.config.check_codes:
            if not checker(value_set, coded.code, coded.coding_scheme):
                self.error(
                    "XDSRegistryMetadataError",
                    f"{name} {coded.coding_scheme}|{coded.code} absent du jeu de valeurs DMP",
                    obj.id,
                )

    def _entries(self) -> dict[str, str]:
        """Checks every DocumentEntry; returns {entry id: uniqueId} of the entries whose uniqueId is an OID."""
        unique_ids: dict[str, str] = {}
        signature_entries = [
            e for e in self.submission.entries if any(c.code == XMLDSIG_FORMAT for c in e.coded(md.DE_FORMAT))
        ]
        if len(signature_entries) > 1:
            self.error("XDSRegistryMetadataError", "Plusieurs signatures du lot dans la soumission")
        elif signature_entries:
            self.signature_id = signature_entries[0].id
        elif self.p.config.require_lot_signature:
            self.error(
                "XDSRegistryMetadataError",
                f"Signature du lot absente (fiche de formatCode {XMLDSIG_FORMAT} obligatoire en TD2.1)",
            )

        for entry in self.submission.entries:
            loc = entry.id
            is_signature = entry.id == self.signature_id
            if entry.object_type != md.DE_OBJECT_TYPE:
                self.error("XDSRegistryMetadataError", f"objectType {entry.object_type} n'est pas DocumentEntry", loc)
            if entry.mime_type != "text/xml":
                self.error("XDSRegistryMetadataError", f"mimeType {entry.mime_type} : text/xml attendu", loc)
            uid = entry.external_id(md.DE_UNIQUE_ID)
            if not uid or not _OID.match(uid) or len(uid) > 64:
                self.error(
                    "XDSRegistryMetadataError",
                    f"uniqueId {uid!r} n'est pas un OID (le DMP n'accepte pas OID^extension)",
                    loc,
                )
            else:
                unique_ids[entry.id] = uid
            patient = self._patient_of(entry)
            for slot in ("creationTime", "serviceStartTime", "serviceStopTime"):
                value = entry.slot(slot)
                if (value is None and slot == "creationTime") or (value is not None and not _DTM.match(value)):
                    self.error("XDSRegistryMetadataError", f"{slot} absent ou mal formé", loc)
            if not entry.slot("languageCode"):
                self.error("XDSRegistryMetadataError", "languageCode absent", loc)
            if not entry.slot("sourcePatientId"):
                self.error("XDSRegistryMetadataError", "sourcePatientId absent", loc)
            if not entry.coded(md.DE_AUTHOR):
                self.error("XDSRegistryMetadataError", "Auteur absent", loc)

            if is_signature:
                self._signature_codes(entry)
            else:
                self._one_code(entry, md.DE_CLASS, "classCode", "classCode")
                self._one_code(entry, md.DE_TYPE, "typeCode", "typeCode")
                self._one_code(entry, md.DE_FORMAT, "formatCode", "formatCode")
            confidentiality = entry.coded(md.DE_CONFIDENTIALITY)
            if not confidentiality:
                self.error("XDSRegistryMetadataError", "confidentialityCode absent", loc)
            for coded in confidentiality:
                self._code(entry, coded, "confidentialityCode", "confidentialityCode")
            self._one_code(entry, md.DE_FACILITY, "healthcareFacilityTypeCode", "healthcareFacilityTypeCode")
            self._one_code(entry, md.DE_PRACTICE, "practiceSettingCode", "practiceSettingCode")

            content = self.submission.documents.get(entry.id)
            if content is not None and content.data is not None:
                self._hash_size(entry, content.data)
                if not is_signature and uid:
                    self._cda(entry, content.data, uid, patient)
        return unique_ids

    def _patient_of(self, entry: RegistryObject) -> tuple[str, str] | None:
        cx = entry.external_id(md.DE_PATIENT_ID)
        if cx is None:
            self.error("XDSRegistryMetadataError", "patientId absent", entry.id)
            return None
        parsed = parse_cx(cx)
        if parsed is None:
            self.error("XDSRegistryMetadataError", f"patientId {cx} n'est pas un CX <INS>^^^&<OID>&ISO^NH", entry.id)
        elif self.patient is not None and parsed != self.patient:
            self.error("XDSPatientIdDoesNotMatch", f"patientId {cx} ≠ patientId du lot {self.patient_cx}", entry.id)
        return parsed

    def _signature_codes(self, entry: RegistryObject) -> None:
        """The lot signature entry has fixed class/type/format codes (spec §4.1)."""
        expected = {
            md.DE_CLASS: ("classCode", (SIGNATURE_CLASS, "URN")),
            md.DE_TYPE: ("typeCode", SIGNATURE_TYPE),
            md.DE_FORMAT: ("formatCode", (XMLDSIG_FORMAT, "URN")),
        }
        for scheme, (name, (code, system)) in expected.items():
            found = [(c.code, c.coding_scheme) for c in entry.coded(scheme)]
            if found != [(code, system)]:
                self.error(
                    "XDSRegistryMetadataError", f"Signature du lot : {name} {found} ; attendu {system}|{code}", entry.id
                )

    def _hash_size(self, entry: RegistryObject, data: bytes) -> None:
        declared_hash = entry.slot("hash")
        if declared_hash is not None:
            actual = hashlib.sha1(data).hexdigest()  # noqa: S324 (XDS hash is SHA-1 by definition)
            if declared_hash.lower() != actual:
                self.error("XDSNonIdenticalHash", f"hash {declared_hash} ≠ SHA-1 du document reçu {actual}", entry.id)
        declared_size = entry.slot("size")
        if declared_size is not None and declared_size != str(len(data)):
            self.error("XDSNonIdenticalSize", f"size {declared_size} ≠ taille reçue {len(data)}", entry.id)

    def _cda(self, entry: RegistryObject, data: bytes, uid: str, patient: tuple[str, str] | None) -> None:
        try:
            doc = parse_xml(data, f"Le document {entry.id}", large_text=True)  # an N1 CDA: 14 MB of base64
        except SoapFault as exc:
            self.error("XDSRegistryMetadataError", exc.reason, entry.id)
            return
        if doc.tag != f"{{{CDA_NS}}}ClinicalDocument":
            self.error(
                "XDSRegistryMetadataError", f"Le document {entry.id} n'est pas un ClinicalDocument CDA R2", entry.id
            )
            return
        cda_id = doc.find(f"{{{CDA_NS}}}id")
        root = cda_id.get("root") if cda_id is not None else None
        if cda_id is None or root != uid or cda_id.get("extension"):
            shown = None if cda_id is None else (root, cda_id.get("extension"))
            self.error(
                "XDSDocumentUniqueIdError",
                f"uniqueId {uid} ≠ ClinicalDocument/id {shown} (id racine seule attendue)",
                entry.id,
            )
        ins = doc.find(f"{{{CDA_NS}}}recordTarget/{{{CDA_NS}}}patientRole/{{{CDA_NS}}}id")
        cda_patient = (ins.get("extension") or "", ins.get("root") or "") if ins is not None else None
        if patient is not None and cda_patient != patient:
            self.error(
                "XDSPatientIdDoesNotMatch", f"INS du CDA {cda_patient} ≠ patientId de la fiche {patient}", entry.id
            )

    # -- uniqueness --

    def _unique_ids(self, unique_ids: dict[str, str]) -> None:
        seen: dict[str, str] = {}
        everything = list(unique_ids.items())
        if self.ss is not None and self.ss_unique_id:
            everything.append((self.ss.id, self.ss_unique_id))
        for loc, uid in everything:
            if uid in seen:
                self.error("XDSRegistryDuplicateUniqueIdInMessage", f"uniqueId {uid} utilisé deux fois", loc)
            seen[uid] = loc
        for uid in sorted(self.p.registry.existing_unique_ids(list(seen))):
            self.error("XDSDuplicateUniqueIdInRegistry", f"uniqueId {uid} déjà présent dans le DMP", uid)
        for entry_id, uid in unique_ids.items():
            # entryUUIDs are unique in a registry. The same document sent again (a retry) is the duplicate above;
            # another document reusing a stored entryUUID is a metadata error, final: retrying cannot fix it.
            stored = self.p.registry.by_entry_uuid(entry_id) if entry_id.startswith("urn:uuid:") else None
            if stored is not None and stored.unique_id != uid:
                self.error(
                    "XDSRegistryMetadataError",
                    f"entryUUID {entry_id} déjà attribué à un autre document du DMP ({stored.unique_id})",
                    entry_id,
                )

    # -- associations --

    def _associations(self) -> None:
        s = self.submission
        if self.ss is None:
            return
        members = {a.target for a in s.associations if a.type == md.HAS_MEMBER and a.source == self.ss.id}
        for entry in s.entries:
            if entry.id not in members:
                self.error("XDSRegistryMetadataError", f"Pas d'association HasMember lot → {entry.id}", entry.id)
        if self.signature_id is not None and not any(
            a.type == md.SIGNS and a.source == self.signature_id and a.target == self.ss.id for a in s.associations
        ):
            self.error(
                "XDSRegistryMetadataError",
                f"Pas d'association signs {self.signature_id} → {self.ss.id}",
                self.signature_id,
            )
        entry_ids = {e.id for e in s.entries}
        for a in s.associations:
            if a.type != md.RPLC:
                continue
            if a.source not in entry_ids:
                self.error("XDSRegistryMetadataError", f"RPLC depuis {a.source} : fiche inconnue du lot", a.source)
            elif a.source in self.replaces or a.target in self.replaces.values():
                self.error(
                    "XDSRegistryMetadataError", f"RPLC {a.source} → {a.target} : remplacement en double", a.source
                )
            else:
                self._replacement(a.source, a.target)

    def _replacement(self, source: str, target_uuid: str) -> None:
        """The target must be a current (Approved) entry of the same patient (IHE ITI TF-3 4.2.4.1 error codes)."""
        target = self.p.registry.by_entry_uuid(target_uuid)
        if target is None:
            self.error(
                "UnresolvedReferenceException", f"RPLC : document à remplacer {target_uuid} inconnu du DMP", source
            )
        elif target.status == DEPRECATED:
            self.error(
                "XDSRegistryDeprecatedDocumentError",
                f"RPLC : document {target_uuid} déjà remplacé (Deprecated)",
                source,
            )
        elif target.status != APPROVED:
            self.error("XDSRegistryMetadataError", f"RPLC : document {target_uuid} n'est plus actif", source)
        elif self.patient_cx is not None and parse_cx(target.patient_id) != self.patient:
            self.error("XDSPatientIdDoesNotMatch", f"RPLC : document {target_uuid} d'un autre patient", source)
        else:
            self.replaces[source] = target_uuid

    # -- XAdES lot signature --

    def _lot_signature(self, unique_ids: dict[str, str]) -> None:
        if self.signature_id is None or self.ss_unique_id is None:
            return
        signature = self.submission.documents[self.signature_id].data
        assert signature is not None
        documents = {
            uid: data
            for entry_id, uid in unique_ids.items()
            if entry_id != self.signature_id and (data := self.submission.documents[entry_id].data) is not None
        }
        try:
            self.p.lot_verifier(signature, documents, self.p.ca_cert, self.ss_unique_id, self.now)
        except LotSignatureError as exc:
            self.error("XDSRegistryMetadataError", f"Signature du lot invalide : {exc}", self.signature_id)
