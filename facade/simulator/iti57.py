"""ITI-57 Update Document Set as the simulated DMP registry applies it (TD3.3a-d, pdsm4dmp §3.1, §3.4).

Two request shapes are understood, read with the simulator's own ebRIM reading (``metadata._read_objects``):
- an ``UpdateAvailabilityStatus`` Association SubmissionSet -> entryUUID with ``OriginalStatus`` / ``NewStatus``:
  Approved <-> Archived (TD3.3d), Approved/Archived -> Deleted (TD3.3c, only by the authoring structure);
- a new ExtrinsicObject version (same ``lid``) with a HasMember carrying ``PreviousVersion``: the confidentiality
  codes change (TD3.3a when MASQUE_PS or the HL7 code changes, TD3.3b for INVISIBLE_*); the previous version
  becomes Deprecated, the new one keeps its status (an archived document stays archived).
The rights matrix (``SimulatorConfig.rights``) is applied to the VIHF's Authentification_Mode. Every refusal is a
``RegistryResponse`` Failure and changes nothing (IHE ITI TF-3 4.2.4.1 codes; ``DMPAccessDenied`` for the rights
[UNCERTAIN], the name the other simulator handlers use).
"""

from __future__ import annotations

import logging

from lxml import etree

from facade.simulator import metadata as md
from facade.simulator.config import SimulatorConfig
from facade.simulator.iti41 import Answer
from facade.simulator.registry import APPROVED, DEPRECATED, Registry, ReplacedMeanwhile, StoredEntry, patient_key
from facade.simulator.services import VerifiedRequest, soap_answer
from facade.simulator.soap12 import response_envelope
from facade.simulator.vihf import ATTR_RESOURCE_ID, ATTR_STRUCTURE
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus
from facade.soap.registry_response import build as build_registry_response

log = logging.getLogger("facade.simulator")

ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
RESPONSE_ACTION = "urn:ihe:iti:2010:UpdateDocumentSet-Response"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
_TRANSITIONS = {(APPROVED, ARCHIVED): "TD3.3d", (ARCHIVED, APPROVED): "TD3.3d",
                (APPROVED, DELETED): "TD3.3c", (ARCHIVED, DELETED): "TD3.3c"}  # fmt: skip


class UpdateError(Exception):
    def __init__(self, code: str, context: str, location: str = "") -> None:
        super().__init__(context)
        self.error = RegistryError(code, context, location or None)


class Iti57Handler:
    def __init__(self, registry: Registry, config: SimulatorConfig) -> None:
        self.registry = registry
        self.config = config

    def __call__(self, request: VerifiedRequest) -> Answer:
        try:
            done = self._apply(request)
        except UpdateError as exc:
            log.info("simulator ITI-57 refused: %s %s", exc.error.error_code, exc.error.code_context)
            return self._answer(request, RegistryResponse(ResponseStatus.FAILURE, (exc.error,)), "failure")
        log.info("simulator ITI-57: %s", done)
        return self._answer(request, RegistryResponse(ResponseStatus.SUCCESS), "ok")

    def _answer(self, request: VerifiedRequest, response: RegistryResponse, outcome: str) -> Answer:
        env, body = response_envelope(RESPONSE_ACTION, request.message_id)
        body.append(build_registry_response(response))
        return soap_answer(etree.tostring(env, xml_declaration=True, encoding="UTF-8"), RESPONSE_ACTION, outcome)

    # --- the update ---

    def _apply(self, request: VerifiedRequest) -> str:
        payload = request.payload
        objects = payload.find("rim:RegistryObjectList", md.NS) if payload is not None else None
        if payload is None or etree.QName(payload).localname != "SubmitObjectsRequest" or objects is None:
            raise UpdateError("XDSRegistryMetadataError", "lcm:SubmitObjectsRequest/rim:RegistryObjectList attendu")
        read = md.SubmissionRequest()
        md._read_objects(objects, read)
        if len(read.submission_sets) != 1:
            raise UpdateError("XDSRegistryMetadataError", "un lot de soumission (RegistryPackage) attendu")
        ss = read.submission_sets[0]
        patient = ss.external_id(md.SS_PATIENT_ID) or ""
        for scheme in (md.SS_PATIENT_ID, md.SS_SOURCE_ID, md.SS_UNIQUE_ID):
            if not ss.external_id(scheme):
                raise UpdateError("XDSRegistryMetadataError", f"lot de soumission sans {scheme}", ss.id)
        if patient_key(patient) != patient_key(request.vihf.value(ATTR_RESOURCE_ID) or ""):
            raise UpdateError("XDSPatientIdDoesNotMatch", "patientId du lot différent du patient du VIHF", ss.id)
        statuses = [a for a in read.associations if a.type == UPDATE_STATUS]
        if len(statuses) == 1 and not read.entries:
            return self._status(request, statuses[0], patient)
        if len(read.entries) == 1 and not statuses:
            eo = next(e for e in objects.findall("rim:ExtrinsicObject", md.NS))
            return self._version(request, read, eo, patient)
        raise UpdateError("XDSMetadataUpdateOperationError", "une seule mise à jour par requête (statut ou version)")

    def _may(self, request: VerifiedRequest, transaction: str) -> None:
        mode = next((m for n in self.config.mode_attribute_names if (m := request.vihf.value(n))), None)
        if not self.config.may(mode, transaction):
            raise UpdateError("DMPAccessDenied", f"{transaction} non autorisée en mode {mode or '(absent)'}")

    def _target(self, entry_uuid: str, patient: str) -> StoredEntry:
        found = self.registry.entries(entry_uuids=[entry_uuid])
        if not found:
            raise UpdateError("UnresolvedReferenceException", f"entrée {entry_uuid} inconnue", entry_uuid)
        if patient_key(found[0].patient_id) != patient_key(patient):
            raise UpdateError("XDSPatientIdDoesNotMatch", f"entrée {entry_uuid} d'un autre patient", entry_uuid)
        return found[0]

    def _status(self, request: VerifiedRequest, association: md.Association, patient: str) -> str:
        original = (association.slots.get("OriginalStatus") or [""])[0]
        new = (association.slots.get("NewStatus") or [""])[0]
        transaction = _TRANSITIONS.get((original, new))
        if transaction is None:
            where = association.id or ""
            raise UpdateError("XDSMetadataUpdateOperationError", f"{original} -> {new} non supporté", where)
        self._may(request, transaction)
        entry = self._target(association.target, patient)
        where = entry.entry_uuid
        if entry.status != original:
            raise UpdateError("XDSMetadataUpdateError", f"statut actuel {entry.status}, pas {original}", where)
        if new == DELETED and not self._authored_here(entry, request):
            raise UpdateError("DMPAccessDenied", "seule la structure auteur peut dépublier ce document", where)
        if not self.registry.update_status(entry.entry_uuid, original, new):
            raise UpdateError("XDSMetadataUpdateError", "le statut a changé entre-temps", where)
        return f"{entry.unique_id} {original} -> {new}"

    def _authored_here(self, entry: StoredEntry, request: VerifiedRequest) -> bool:
        structure = request.vihf.value(ATTR_STRUCTURE) or ""
        eo = entry.element()
        authors = {
            (v.text or "").rsplit("^", 1)[-1]
            for c in eo.findall("rim:Classification", md.NS) if c.get("classificationScheme") == md.DE_AUTHOR
            for v in c.iterfind("rim:Slot[@name='authorInstitution']/rim:ValueList/rim:Value", md.NS)
        }  # fmt: skip
        return structure in authors or any(self.config.structure_allowed(a, structure) for a in authors)

    def _version(self, request: VerifiedRequest, read: md.SubmissionRequest, eo: etree._Element, patient: str) -> str:
        new = read.entries[0]
        members = [a for a in read.associations if a.type == md.HAS_MEMBER and a.target == new.id]
        previous = (members[0].slots.get("PreviousVersion") or [""])[0] if len(members) == 1 else ""
        lid = eo.get("lid") or ""
        if not previous or not lid:
            reason = "HasMember avec PreviousVersion et lid attendus"
            raise UpdateError("XDSMetadataUpdateOperationError", reason, new.id)
        versions = self.registry.entries(lids=[lid])
        if not versions:
            raise UpdateError("UnresolvedReferenceException", f"document logique {lid} inconnu", lid)
        current = max(versions, key=lambda e: e.version)
        if patient_key(current.patient_id) != patient_key(patient):
            raise UpdateError("XDSPatientIdDoesNotMatch", f"document {lid} d'un autre patient", lid)
        if str(current.version) != previous:
            raise UpdateError("XDSMetadataVersionError", f"version actuelle {current.version}, pas {previous}", lid)
        if current.status not in (APPROVED, ARCHIVED):
            raise UpdateError("XDSMetadataUpdateError", f"version {current.version} est {current.status}", lid)
        if new.external_id(md.DE_UNIQUE_ID) != current.unique_id:
            raise UpdateError("XDSMetadataIdentifierError", "uniqueId différent de la version précédente", new.id)
        if patient_key(new.external_id(md.DE_PATIENT_ID) or "") != patient_key(current.patient_id):
            raise UpdateError("XDSPatientIdDoesNotMatch", "patientId différent de la version précédente", new.id)
        _check_confidentiality(new)
        for transaction in _visibility_transactions(current, new):
            self._may(request, transaction)
        try:
            stored = self.registry.add_version(current, eo, DEPRECATED)
        except ReplacedMeanwhile:
            raise UpdateError(
                "XDSMetadataVersionError", "une autre version a été enregistrée entre-temps", lid
            ) from None
        return f"{current.unique_id} version {stored.version} ({stored.entry_uuid})"


# JDV_J58 (the DMP's confidentiality codes): one HL7 code, TRE_A07 flags
_J58 = {HL7_CONFIDENTIALITY: {"N", "R", "V"},
        "1.2.250.1.213.1.1.4.13": {"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"}}  # fmt: skip


def _check_confidentiality(new: md.RegistryObject) -> None:
    codes = _confidentiality(new)
    wrong = sorted(f"{c}^{s}" for s, c in codes if c not in _J58.get(s, set()))
    if wrong:
        raise UpdateError("XDSRegistryMetadataError", f"confidentialityCode hors JDV_J58 : {', '.join(wrong)}", new.id)
    if len([s for s, _ in codes if s == HL7_CONFIDENTIALITY]) != 1:
        raise UpdateError("XDSRegistryMetadataError", "un et un seul confidentialityCode HL7 (N, R, V) attendu", new.id)


def _confidentiality(obj: md.RegistryObject) -> set[tuple[str, str]]:
    return {(c.coding_scheme or "", c.code) for c in obj.coded(md.DE_CONFIDENTIALITY)}


def _visibility_transactions(current: StoredEntry, new: md.RegistryObject) -> list[str]:
    read = md.SubmissionRequest()
    holder = etree.Element(f"{{{md.RIM_NS}}}RegistryObjectList")
    holder.append(current.element())
    md._read_objects(holder, read)
    changed = _confidentiality(read.entries[0]) ^ _confidentiality(new)
    out = []
    if any(s == HL7_CONFIDENTIALITY or c == "MASQUE_PS" for s, c in changed):
        out.append("TD3.3a")
    if any(c.startswith("INVISIBLE_") for _, c in changed):
        out.append("TD3.3b")
    return out or ["TD3.3a"]  # a new version changing nothing visible is still a metadata update


__all__ = ["ACTION", "Iti57Handler"]
