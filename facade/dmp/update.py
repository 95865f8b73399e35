"""TD3.3a-d behind a PDSm PATCH: mask / visibility, archive / unarchive, delete (pdsm4dmp §3.1, §3.4).

The DMP is the truth: the document is re-read (GetDocuments by uniqueId, TD3.1b) right before the ITI-57 update,
because its entryUUID changes with every metadata version (§3.3 item 5), and again afterwards for the answer. The
rights matrix is applied twice: first on what the facade already knows (its own registry), so that a structure
certificate asking for a masking sends nothing at all; then on the DMP's answer. A DMP refusal leaves the facade's
registry untouched; a success reconciles it (availability, confidentiality codes).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from typing import Any

from facade.dmp import rights
from facade.dmp.client import DmpClient, DmpService
from facade.dmp.document_reference import attachment_url, to_document_reference
from facade.dmp.iti57 import (
    DELETED,
    UPDATE_DOCUMENT_SET,
    SubmissionSetHeader,
    availability_update,
    metadata_update,
)
from facade.dmp.patch import ChangeKind, DocumentState, plan_patch
from facade.dmp.registry_entry import RegistryEntry
from facade.dmp.stored_query import build_get_documents, get_documents, latest_current, run_query
from facade.errors import FacadeError, Problem
from facade.feeding import PreparedSubmission
from facade.model.document import Author, Code, Device, FacilitySettings, Organization
from facade.outbox.audit import patient_hash
from facade.outbox.registry import Availability
from facade.outbox.store import Outbox
from facade.xds.codes import AvailabilityStatus, ExternalIdentifierScheme
from facade.xds.error_mapping import check_response

log = logging.getLogger("facade.dmp")

APPROVED, ARCHIVED = AvailabilityStatus.APPROVED.value, AvailabilityStatus.ARCHIVED.value
DEPRECATED = AvailabilityStatus.DEPRECATED.value
_FHIR_STATUS = {APPROVED: "current", ARCHIVED: "current", DEPRECATED: "superseded", DELETED: "entered-in-error"}
_LOCAL = {APPROVED: Availability.APPROVED, ARCHIVED: Availability.ARCHIVED, DEPRECATED: Availability.DEPRECATED,
          DELETED: Availability.DELETED}  # fmt: skip
_INS_CX = re.compile(r"^(?P<ins>[0-9AB]{15})\^\^\^&(?P<oid>[0-9.]+)&ISO\^NH$")


@dataclass(frozen=True)
class PatchTarget:
    """Which document: ``DocumentReference/<id>`` (an entryUUID's UUID) or the conditional ``identifier`` (uniqueId);
    ``patient_ins_cx`` from ``patient.identifier`` when given (needed for documents the facade never sent)."""

    document_id: str | None = None
    unique_id: str | None = None
    patient_ins_cx: str | None = None
    if_match: str | None = None  # the version the client read (If-Match: W/"<meta.versionId>"); 412 when stale

    @property
    def label(self) -> str:
        return f"DocumentReference/{self.document_id}" if self.document_id else f"identifier urn:oid:{self.unique_id}"


@dataclass(frozen=True)
class PatchOutcome:
    entry: RegistryEntry  # the document as the DMP holds it now
    kind: ChangeKind
    patient_ins_cx: str

    def resource(self, base_url: str) -> dict[str, Any]:
        """The PDSm DocumentReference answered (the same mapping as the search: facade/dmp/document_reference.py)."""
        m = _INS_CX.match(self.patient_ins_cx)
        url = attachment_url(base_url, self.entry.unique_id, m["ins"], m["oid"]) if m else None
        return to_document_reference(self.entry, attachment=url)


def state_of(entry: RegistryEntry) -> DocumentState:
    codes = tuple((c.system, c.code, c.display) for c in entry.confidentiality)
    return DocumentState(_FHIR_STATUS.get(entry.status, "current"), entry.status == ARCHIVED, codes)


class DocumentUpdater:
    """One PATCH: resolve, plan, check rights, send ITI-57, re-read, reconcile."""

    def __init__(
        self,
        *,
        client: DmpClient,
        outbox: Outbox,
        facility: FacilitySettings,
        content_type: Code,
        auth_mode: str,
        granted: Sequence[str],
        new_oid: Callable[[], str],
        now: Callable[[], datetime],
        patient_secret: bytes,
        software: str,
        p4d_labels: bool = False,
    ) -> None:
        self.client = client
        self.outbox = outbox
        self.facility = facility
        self.content_type = content_type
        self.auth_mode = auth_mode
        self.granted = tuple(granted)
        self.new_oid = new_oid
        self.now = now
        self.patient_secret = patient_secret
        self.software = software
        self.p4d_labels = p4d_labels  # FACADE_DMP__SECURITY_LABEL_PATCH=p4d (facade/dmp/patch.py plan_patch)

    def patch(self, target: PatchTarget, body: bytes, content_type: str, *, actor: str) -> PatchOutcome:
        patient, unique_id, local_state = self._identify(target)
        if local_state is not None:  # nothing is sent when the facade already knows the rights forbid it
            guessed: tuple[rights.Transaction, ...] = ()
            with contextlib.suppress(FacadeError):  # a patch that fails on the guess is judged on the DMP's state
                guessed = plan_patch(body, content_type, {}, local_state, p4d=self.p4d_labels)[0].transactions
            self._require(guessed)
        entry = self._current(patient, unique_id, target)
        if target.if_match is not None and target.if_match != entry.version:
            raise FacadeError(
                Problem.PATCH_VERSION_MISMATCH,
                expected=target.if_match,
                current=entry.version,
                unique_id=entry.unique_id,
            )
        resource = to_document_reference(entry)
        change, _ = plan_patch(body, content_type, resource, state_of(entry), p4d=self.p4d_labels)
        if change.kind is ChangeKind.NONE:
            return PatchOutcome(entry, change.kind, patient)
        if not entry.is_current:
            status = _FHIR_STATUS.get(entry.status, entry.status)
            raise FacadeError(Problem.DMP_DOCUMENT_NOT_CURRENT, unique_id=entry.unique_id, status=status)
        self._require(change.transactions)
        if change.kind is ChangeKind.DELETE:
            check_author(entry, self.facility)
        request = self._request(entry, change.kind, change.confidentiality, patient)
        soap = self.client.request(DmpService.REGISTRY, UPDATE_DOCUMENT_SET, [request], patient_ins_cx=patient)
        response = self.client.transports[DmpService.REGISTRY].send(soap)
        check_response(response, message_id=soap.message_id)  # a refusal raises here: nothing local has changed
        after = self._current(patient, entry.unique_id, target)
        self._reconcile(after, patient, actor, change.kind)
        return PatchOutcome(after, change.kind, patient)

    # --- steps ---

    def _require(self, transactions: Sequence[rights.Transaction]) -> None:
        for transaction in transactions:
            rights.require(self.auth_mode, transaction, self.granted)

    def _identify(self, target: PatchTarget) -> tuple[str, str | None, DocumentState | None]:
        """The patient (INS CX), the uniqueId when known, and the facade's own idea of the document's state."""
        local = None
        if target.document_id:
            local = self.outbox.find_document(entry_uuid=f"urn:uuid:{target.document_id.lower()}")
        elif target.unique_id:
            local = self.outbox.find_document(unique_id=target.unique_id)
        patient = target.patient_ins_cx or (self._sent_patient(local.submission_id) if local else None)
        if not patient:
            raise FacadeError(Problem.PATCH_PATIENT_REQUIRED, expression="patient.identifier", document=target.label)
        if local is None:
            return patient, target.unique_id, None
        current = local.availability in (Availability.APPROVED, Availability.ARCHIVED)
        status = "current" if current else "superseded"
        state = DocumentState(status, local.availability is Availability.ARCHIVED, local.confidentiality)
        return patient, local.unique_id, state

    def _sent_patient(self, submission_id: str) -> str | None:
        """The INS the facade sent the document for (the registry keeps only its keyed hash; the request it sent
        keeps the XDSDocumentEntry.patientId)."""
        record = self.outbox.get(submission_id)
        if record is None:
            return None
        scheme = ExternalIdentifierScheme.DOCUMENT_ENTRY_PATIENT_ID.value
        try:
            sent = PreparedSubmission.from_payload(record.payload).submit_objects_request
        except (ValueError, KeyError, TypeError):
            return None
        m = re.search(rf'identificationScheme="{scheme}"[^>]*?value="([^"]+)"'.encode(), sent)
        return unescape(m.group(1).decode()) if m else None

    def _current(self, patient: str, unique_id: str | None, target: PatchTarget) -> RegistryEntry:
        """The current version of the document in the DMP (GetDocuments by uniqueId; an id the facade does not know is
        first named by the DMP from its entryUUID)."""
        rights.require(self.auth_mode, rights.Transaction.TD3_1B, self.granted)
        if unique_id is None and target.document_id:  # e.g. the new id a masking answered: ask the DMP which it is
            query = build_get_documents(entry_uuids=[f"urn:uuid:{target.document_id}"])
            unique_id = next((e.unique_id for e in run_query(self.client, patient, query) if e.unique_id), None)
        if unique_id is None:
            raise FacadeError(
                Problem.DMP_DOCUMENT_NOT_FOUND, context=f"No document {target.label} in the DMP for this patient"
            )
        entries = [e for e in get_documents(self.client, patient, [unique_id]) if e.unique_id == unique_id]
        if not entries:
            raise FacadeError(
                Problem.DMP_DOCUMENT_NOT_FOUND, context=f"No document {target.label} in the DMP for this patient"
            )
        # the current version; else the latest one (deprecated or deleted: the PATCH is then refused with its status)
        return latest_current(entries) or max(entries, key=lambda e: _version(e.version))

    def _request(
        self, entry: RegistryEntry, kind: ChangeKind, codes: Sequence[tuple[str, str, str]], patient: str
    ) -> Any:
        ss = self._header(patient)
        if kind is ChangeKind.VISIBILITY:
            if entry.element is None:
                raise FacadeError(
                    Problem.DMP_DOCUMENT_NOT_FOUND, context=f"No document {entry.unique_id} in the DMP (no metadata)"
                )
            return metadata_update(ss, entry.element, entry.version or "1", [Code(c, s, d) for s, c, d in codes])
        new = {ChangeKind.ARCHIVE: ARCHIVED, ChangeKind.UNARCHIVE: APPROVED, ChangeKind.DELETE: DELETED}[kind]
        return availability_update(ss, entry.entry_uuid, entry.status, new)

    def _header(self, patient: str) -> SubmissionSetHeader:
        f = self.facility
        organization = Organization(f.struct_idnat, f.site_name)
        now = self.now()
        device = Device(f"{f.struct_idnat}/{self.software}", self.software, self.software)
        return SubmissionSetHeader(
            unique_id=self.new_oid(),
            source_id=f.source_id,
            patient_ins_cx=patient,
            author=Author(time=now, organization=organization, device=device),
            content_type=self.content_type,
            submission_time=now,
        )

    def _reconcile(self, after: RegistryEntry, patient: str, actor: str, kind: ChangeKind) -> None:
        codes = tuple((c.system, c.code, c.display) for c in after.confidentiality)
        local = _LOCAL.get(after.status)
        if local is not None:
            self.outbox.reconcile_document(after.unique_id, availability=local, confidentiality=codes)
        m = _INS_CX.match(patient)
        self.outbox.append_audit(
            f"dmp-{kind.value}",
            actor=actor,
            outcome="updated",
            patient_hash=patient_hash(m["ins"], m["oid"], self.patient_secret) if m else None,
            document_unique_ids=[after.unique_id],
        )
        log.info("DMP document %s: %s done (status %s)", after.unique_id, kind.value, after.status)


def check_author(entry: RegistryEntry, facility: FacilitySettings) -> None:
    """Only the authoring structure deletes (pdsm4dmp §3.2, P4D td3.3c NB2): an authorInstitution's Struct_IdNat
    (XON.10) must be this site's or its legal entity's; refused (403) before anything is sent."""
    ours = {f"1{facility.finess_eg}", f"1{facility.finess_ej}"}
    authors = {xon.rsplit("^", 1)[-1] for xon in entry.author_institutions}
    if not authors & ours:
        raise FacadeError(
            Problem.PATCH_NOT_OWN_DOCUMENT, expression="DocumentReference.status", unique_id=entry.unique_id,
            author=", ".join(sorted(authors)) or "(none)", structure=facility.struct_idnat,
        )  # fmt: skip


def _version(version: str) -> int:
    return int(version) if version.isdigit() else 0


__all__ = ["DocumentUpdater", "PatchOutcome", "PatchTarget", "check_author", "state_of"]
