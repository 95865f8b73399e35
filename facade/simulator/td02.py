"""TD0.2, the simulated DMP's test of existence (Action ``urn:hl7-org:v3:PRPA_IN201307UV02`` on ``patients``).

The patients it knows are scripted (``PatientBook``: ``STATE/patients.json``, ``POST /_simulator/patients``): per INS
a state ``open`` (default for any INS not listed), ``closed`` (with a date, a reason code and a text) or ``none`` (no
DMP; an INS of the script's ``unknown_ins`` too), plus the authorization, médecin traitant, Mon espace santé and web
account flags. The answer follows the GIE sample (kit ``TD0.2_test_existence_response.xml``); a closed DMP has
patient statusCode ``terminated`` with registrationEvent/effectiveTime and reasonOf/detectedIssueEvent (MB's reading,
pdsm4dmp §6 [UNCERTAIN]); no DMP is queryResponseCode ``NF`` without a subject [UNCERTAIN]. A malformed query (no
patientIdentifier, an INS the DMP does not accept) is acknowledgement ``AE`` + queryResponseCode ``QE`` with an
acknowledgementDetail text. The rights matrix is applied first (``access.refusal``): a refusal is acknowledgement
``AR`` with an acknowledgementDetail code ``DMPAccessDenied``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from lxml import etree

from facade.simulator.access import ACCESS_DENIED, refusal
from facade.simulator.config import SimulatorConfig
from facade.simulator.iti41 import Answer
from facade.simulator.iti41_rules import ins_key_valid
from facade.simulator.script import Script
from facade.simulator.services import VerifiedRequest, soap_answer
from facade.soap.envelope import build_response

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ACTION = "urn:hl7-org:v3:PRPA_IN201307UV02"
RESPONSE_ACTION = "urn:hl7-org:v3:PRPA_IN201308UV02"
DMP_OID = "1.2.250.1.213.4.1.1.1"
_H = f"{{{HL7_NS}}}"
STATES = ("open", "closed", "none")


class PatientBookError(ValueError):
    """A scripted patient state is malformed."""


@dataclass(frozen=True)
class PatientState:
    dmp: str = "open"  # open | closed | none
    authorization: str | None = "VALIDE"  # AUTORISATION value (None: no attentionLine)
    treating_physician: bool = False  # STATUT_MT
    attached_to_mes: bool = True  # RATTACHEMENT_ENS
    web_account_open: bool = True  # COMPTE_INTERNET_OUVERT
    closed_on: str = "20240101"
    closing_reason: str = "FERMETURE_DEMANDE_PATIENT"
    closing_text: str = "Dossier fermé à la demande du patient"
    family: str = "PATIENT-SIMULE"
    given: str = "CAMILLE"
    gender: str = "F"
    birth_time: str = "19800101"

    @classmethod
    def parse(cls, value: Any) -> PatientState:
        if isinstance(value, PatientState):
            return value
        if isinstance(value, str):
            value = {"dmp": value}
        if not isinstance(value, Mapping):
            raise PatientBookError("a patient state is a string (open, closed, none) or an object")
        known = {f.name: f for f in fields(cls)}
        extra = set(value) - set(known)
        if extra:
            raise PatientBookError(f"unknown fields {sorted(extra)}; known: {sorted(known)}")
        state = cls(**value)
        if state.dmp not in STATES:
            raise PatientBookError(f"dmp must be one of {STATES}, not {state.dmp!r}")
        for f in fields(cls):
            value = getattr(state, f.name)
            if isinstance(f.default, bool) and not isinstance(value, bool):
                raise PatientBookError(f"{f.name} must be true or false")
            if isinstance(f.default, str) and not isinstance(value, str):
                raise PatientBookError(f"{f.name} must be a string")
        if state.authorization is not None and not isinstance(state.authorization, str):
            raise PatientBookError("authorization must be a code (string) or null")
        return state


class PatientBook:
    """INS -> PatientState, thread-safe and persisted (a restarted simulator keeps its patients)."""

    def __init__(self, path: Path | None, initial: Mapping[str, Any] | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        # the configured states (PatientState or their JSON form) win over the saved ones
        self._patients = {ins: PatientState.parse(v) for ins, v in (initial or {}).items()}
        if path is not None and path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            self._patients = {**{k: PatientState.parse(v) for k, v in saved.items()}, **self._patients}

    def get(self, ins: str) -> PatientState | None:
        with self._lock:
            return self._patients.get(ins)

    def dmp_state(self, ins: str) -> str | None:
        """open / closed / none for a scripted INS, None for the others (open)."""
        state = self.get(ins)
        return state.dmp if state is not None else None

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {ins: asdict(state) for ins, state in sorted(self._patients.items())}

    def update_from_json(self, payload: Any) -> dict[str, Any]:
        """``POST /_simulator/patients``: {INS: state} merged into the book (validated before anything changes)."""
        if not isinstance(payload, dict):
            raise PatientBookError("the body is a JSON object {INS: state}")
        parsed = {str(ins): PatientState.parse(value) for ins, value in payload.items()}
        with self._lock:
            self._patients.update(parsed)
            if self._path is not None:
                tmp = self._path.with_suffix(".tmp")
                data = {ins: asdict(s) for ins, s in self._patients.items()}
                tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
                os.replace(tmp, self._path)
        return self.to_json()


class Td02Handler:
    def __init__(self, config: SimulatorConfig, book: PatientBook, script: Script) -> None:
        self.config = config
        self.book = book
        self.script = script

    def __call__(self, request: VerifiedRequest) -> Answer:
        query = request.payload
        denied = refusal(self.config, request, "TD0.2")
        if denied is not None:
            return self._answer(request, query, "AR", "AE", error=denied, error_code=ACCESS_DENIED)
        value = query.find(f".//{_H}parameterList/{_H}patientIdentifier/{_H}value") if query is not None else None
        root, ins = (value.get("root", ""), value.get("extension", "")) if value is not None else ("", "")
        if query is None or etree.QName(query).localname != "PRPA_IN201307UV02" or not ins:
            return self._answer(request, query, "AE", "QE", error="Requête TD0.2 sans patientIdentifier")
        if root not in self.config.accepted_ins_oids:
            return self._answer(request, query, "AE", "QE", error=f"Identifiant patient {root} non reconnu (INS)")
        if not ins_key_valid(ins):
            return self._answer(request, query, "AE", "QE", error=f"INS {ins} invalide (clé de contrôle)")
        state = self.book.get(ins) or PatientState()
        if self.script.is_unknown(ins) or ins in self.config.unknown_ins:
            state = replace(state, dmp="none")
        if state.dmp == "none":
            return self._answer(request, query, "AA", "NF")
        return self._answer(request, query, "AA", "OK", patient=(root, ins, state))

    def _answer(self, request: VerifiedRequest, query: etree._Element | None, ack: str, code: str, *,
                error: str | None = None, error_code: str | None = None,
                patient: tuple[str, str, PatientState] | None = None) -> Answer:  # fmt: skip
        root = _header(query, ack, (error_code, error) if error else None, request.now.strftime("%Y%m%d%H%M%S"))
        if patient is not None:
            _attention_lines(root, patient[2])
            root.append(root.find(f"{_H}acknowledgement"))  # attentionLines precede the acknowledgement
        act = etree.SubElement(root, f"{_H}controlActProcess", classCode="CACT", moodCode="EVN")
        etree.SubElement(
            act, f"{_H}reasonCode", code="TEST_EXST", codeSystem="1.2.250.1.213.1.1.4.11",
            displayName="Test d'existence de dossier",
        )  # fmt: skip
        if patient is not None:
            _subject(act, *patient)
            if patient[2].dmp == "closed":
                _closing_reason(act, patient[2])
        ack_el = etree.SubElement(act, f"{_H}queryAck")
        query_id = query.find(f".//{_H}queryByParameter/{_H}queryId") if query is not None else None
        if query_id is not None:
            etree.SubElement(ack_el, f"{_H}queryId", dict(query_id.attrib))
        etree.SubElement(ack_el, f"{_H}queryResponseCode", code=code)
        envelope = build_response(
            root, relates_to=request.message_id, message_id=f"urn:uuid:{uuid.uuid4()}", action=RESPONSE_ACTION
        )
        return soap_answer(envelope, RESPONSE_ACTION, "success" if ack == "AA" else "failure")


def _device(parent: etree._Element, oid: str, name: str) -> None:
    device = etree.SubElement(parent, f"{_H}device", classCode="DEV", determinerCode="INSTANCE")
    etree.SubElement(device, f"{_H}id", root=oid)
    etree.SubElement(device, f"{_H}softwareName").text = name


def _header(query: etree._Element | None, ack: str, error: tuple[str | None, str] | None, now: str) -> etree._Element:
    root = etree.Element(f"{_H}PRPA_IN201308UV02", {"ITSVersion": "XML_1.0"}, nsmap={None: HL7_NS, "xsi": XSI_NS})
    etree.SubElement(root, f"{_H}id", root=str(uuid.uuid4()))
    etree.SubElement(root, f"{_H}creationTime", value=now)
    etree.SubElement(root, f"{_H}interactionId", extension="PRPA_IN201308UV02", root="2.16.840.1.113883.1.6")
    etree.SubElement(root, f"{_H}processingCode", code="P")
    etree.SubElement(root, f"{_H}processingModeCode", code="T")
    etree.SubElement(root, f"{_H}acceptAckCode", code="NE")
    sender = query.find(f"{_H}sender/{_H}device") if query is not None else None
    sender_id = sender.find(f"{_H}id") if sender is not None else None
    sender_name = sender.find(f"{_H}softwareName") if sender is not None else None
    _device(
        etree.SubElement(root, f"{_H}receiver", typeCode="RCV"),
        sender_id.get("root", "") if sender_id is not None else "",
        (sender_name.text or "") if sender_name is not None else "",
    )
    _device(etree.SubElement(root, f"{_H}sender", typeCode="SND"), DMP_OID, "DMP")
    ack_el = etree.SubElement(root, f"{_H}acknowledgement", typeCode=ack)
    target = etree.SubElement(ack_el, f"{_H}targetMessage")
    message_id = query.find(f"{_H}id") if query is not None else None
    if message_id is not None:
        etree.SubElement(target, f"{_H}id", dict(message_id.attrib))
    if error is not None:
        detail = etree.SubElement(ack_el, f"{_H}acknowledgementDetail", typeCode="E")
        if error[0]:
            etree.SubElement(detail, f"{_H}code", code=error[0])
        etree.SubElement(detail, f"{_H}text").text = error[1]
    return root


def _attention_lines(root: etree._Element, state: PatientState) -> None:
    if state.authorization is not None:
        line = etree.SubElement(root, f"{_H}attentionLine")
        etree.SubElement(line, f"{_H}keyWordText", code="AUTORISATION", codeSystem="1.2.250.1.213.4.1.2.6.1")
        etree.SubElement(
            line, f"{_H}value", {f"{{{XSI_NS}}}type": "CV"}, code=state.authorization,
            codeSystem="1.2.250.1.213.4.1.2.6.2",
        )  # fmt: skip
    line = etree.SubElement(root, f"{_H}attentionLine")
    etree.SubElement(line, f"{_H}keyWordText", code="STATUT_MT", codeSystem="1.2.250.1.213.4.1.2.6.3")
    etree.SubElement(line, f"{_H}value", {f"{{{XSI_NS}}}type": "BL"}, value=_bl(state.treating_physician))


def _bl(value: bool) -> str:
    return "true" if value else "false"


def _subject(act: etree._Element, root: str, ins: str, state: PatientState) -> None:
    subject = etree.SubElement(act, f"{_H}subject", contextConductionInd="false", typeCode="SUBJ")
    event = etree.SubElement(subject, f"{_H}registrationEvent", classCode="REG", moodCode="EVN")
    etree.SubElement(event, f"{_H}statusCode", code="completed")
    if state.dmp == "closed":
        etree.SubElement(event, f"{_H}effectiveTime", value=state.closed_on)
    patient = etree.SubElement(etree.SubElement(event, f"{_H}subject1", typeCode="SBJ"), f"{_H}patient",
                               classCode="PAT")  # fmt: skip
    etree.SubElement(patient, f"{_H}id", extension=ins, root=root)
    etree.SubElement(patient, f"{_H}statusCode", code="active" if state.dmp == "open" else "terminated")
    person = etree.SubElement(patient, f"{_H}patientPerson", classCode="PSN", determinerCode="INSTANCE")
    name = etree.SubElement(person, f"{_H}name")
    etree.SubElement(name, f"{_H}given").text = state.given
    etree.SubElement(name, f"{_H}family", qualifier="BR").text = state.family
    etree.SubElement(person, f"{_H}administrativeGenderCode", code=state.gender)
    etree.SubElement(person, f"{_H}birthTime", value=state.birth_time)
    for code, system, value in (
        ("COMPTE_INTERNET_OUVERT", "1.2.250.1.213.4.1.2.9", state.web_account_open),
        ("RATTACHEMENT_ENS", "1.2.250.1.213.4.1.2.3", state.attached_to_mes),
    ):
        obs = etree.SubElement(etree.SubElement(patient, f"{_H}subjectOf", typeCode="SBJ"),
                               f"{_H}administrativeObservation", classCode="OBS", moodCode="EVN")  # fmt: skip
        etree.SubElement(obs, f"{_H}code", code=code, codeSystem=system)
        etree.SubElement(obs, f"{_H}value", {f"{{{XSI_NS}}}type": "BL"}, value=_bl(value))
    custodian = etree.SubElement(event, f"{_H}custodian", typeCode="CST")
    entity = etree.SubElement(custodian, f"{_H}assignedEntity", classCode="ASSIGNED")
    etree.SubElement(entity, f"{_H}id", root=DMP_OID)


def _closing_reason(act: etree._Element, state: PatientState) -> None:
    reason = etree.SubElement(act, f"{_H}reasonOf", typeCode="RSON")
    issue = etree.SubElement(reason, f"{_H}detectedIssueEvent", classCode="ALRT", moodCode="EVN")
    etree.SubElement(issue, f"{_H}code", code=state.closing_reason, codeSystem="1.2.250.1.213.4.1.2.10")
    etree.SubElement(issue, f"{_H}text").text = state.closing_text
