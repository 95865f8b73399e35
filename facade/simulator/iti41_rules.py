"""The simulated DMP registry's metadata rules over one ITI-41 submission (``MetadataChecks``): every
RegistryError found, collected rather than stopping at the first (see ``facade.simulator.iti41`` for the order
and the error codes). Reads the simulator's own view of the metadata (``facade.simulator.metadata``), never the
facade's ebRIM code."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import TYPE_CHECKING

from facade.simulator import metadata as md
from facade.simulator.metadata import RegistryObject, SubmissionRequest
from facade.simulator.registry import APPROVED, DEPRECATED
from facade.simulator.soap12 import SoapFault, parse_xml
from facade.simulator.vihf import ATTR_RESOURCE_ID, Vihf
from facade.soap.registry_response import RegistryError, Severity

if TYPE_CHECKING:
    from facade.simulator.iti41 import Iti41Processor


CDA_NS = "urn:hl7-org:v3"
XMLDSIG_FORMAT = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
SIGNATURE_TYPE = ("E1762", "ASTM")

_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_DTM = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?$")
_CX = re.compile(r"^([^^&]+)\^\^\^&([0-9.]+)&ISO\^NH(\^.*)?$")
_NIR = re.compile(r"^[1-478]\d{4}(\d{2}|2A|2B)\d{6}\d{2}$")


class LotSignatureError(Exception):
    pass


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


class MetadataChecks:
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
        elif self.p.script.is_unknown(ins) or ins in self.p.config.unknown_ins or self.p.dmp_state(ins) == "none":
            self.error("XDSUnknownPatientId", f"Patient {ins} inconnu du DMP", location)
        elif self.p.dmp_state(ins) == "closed":  # the TD0.2 state; the DMP's own code for it is unknown [UNCERTAIN]
            self.error("XDSUnknownPatientId", f"Le DMP du patient {ins} est fermé", location)
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
        self._find_lot_signature()
        unique_ids: dict[str, str] = {}
        for entry in self.submission.entries:
            uid = self._entry(entry)
            if uid is not None:
                unique_ids[entry.id] = uid
        return unique_ids

    def _find_lot_signature(self) -> None:
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

    def _entry(self, entry: RegistryObject) -> str | None:
        """One DocumentEntry's rules; its uniqueId when that is an OID."""
        loc = entry.id
        is_signature = entry.id == self.signature_id
        if entry.object_type != md.DE_OBJECT_TYPE:
            self.error("XDSRegistryMetadataError", f"objectType {entry.object_type} n'est pas DocumentEntry", loc)
        if entry.mime_type != "text/xml":
            self.error("XDSRegistryMetadataError", f"mimeType {entry.mime_type} : text/xml attendu", loc)
        uid = entry.external_id(md.DE_UNIQUE_ID)
        oid_uid = uid if uid and _OID.match(uid) and len(uid) <= 64 else None
        if oid_uid is None:
            self.error(
                "XDSRegistryMetadataError",
                f"uniqueId {uid!r} n'est pas un OID (le DMP n'accepte pas OID^extension)",
                loc,
            )
        patient = self._patient_of(entry)
        self._entry_slots(entry)
        self._entry_codes(entry, is_signature)
        content = self.submission.documents.get(entry.id)
        if content is not None and content.data is not None:
            self._hash_size(entry, content.data)
            if not is_signature and uid:
                self._cda(entry, content.data, uid, patient)
        return oid_uid

    def _entry_slots(self, entry: RegistryObject) -> None:
        loc = entry.id
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

    def _entry_codes(self, entry: RegistryObject, is_signature: bool) -> None:
        if is_signature:
            self._signature_codes(entry)
        else:
            self._one_code(entry, md.DE_CLASS, "classCode", "classCode")
            self._one_code(entry, md.DE_TYPE, "typeCode", "typeCode")
            self._one_code(entry, md.DE_FORMAT, "formatCode", "formatCode")
        confidentiality = entry.coded(md.DE_CONFIDENTIALITY)
        if not confidentiality:
            self.error("XDSRegistryMetadataError", "confidentialityCode absent", entry.id)
        for coded in confidentiality:
            self._code(entry, coded, "confidentialityCode", "confidentialityCode")
        self._one_code(entry, md.DE_FACILITY, "healthcareFacilityTypeCode", "healthcareFacilityTypeCode")
        self._one_code(entry, md.DE_PRACTICE, "practiceSettingCode", "practiceSettingCode")

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
