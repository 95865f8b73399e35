"""TD0.2, the test of existence of a patient's DMP: the HL7v3 query and what the DMP says (pdsm4dmp §3.1, §6).

Request ``PRPA_IN201307UV02`` (Action ``urn:hl7-org:v3:PRPA_IN201307UV02``, service ``patients``), in the element order
of the GIE sample (kit ``TD0.2_test_existence_request.xml``): id, creationTime, interactionId, processing codes,
acceptAckCode, receiver (the DMP device ``1.2.250.1.213.4.1.1.1``), sender (this LPS), a nil attentionLine, then
controlActProcess with reasonCode ``TEST_EXST`` and queryByParameter/parameterList/patientIdentifier = the INS.

Answer ``PRPA_IN201308UV02`` (kit ``TD0.2_test_existence_response.xml``): acknowledgement ``AA`` and queryResponseCode
``OK`` with a registrationEvent/subject1/patient = a DMP; its statusCode ``active`` = open, anything else = closed
(with the closing date, reason and text MB reads: registrationEvent/effectiveTime, reasonOf/detectedIssueEvent)
**[UNCERTAIN]**; attentionLines AUTORISATION / STATUT_MT; administrativeObservations RATTACHEMENT_ENS /
COMPTE_INTERNET_OUVERT. "No DMP" is not in the samples: read as queryResponseCode ``NF`` (HL7v3 "no data found") or an
``OK`` without a patient **[UNCERTAIN]**. ``AE``/``AR`` acknowledgements and ``AE``/``QE`` response codes are errors,
mapped by ``facade.xds.error_mapping.hl7v3_rule``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from facade.dmp.client import DmpClient, DmpService
from facade.dmp.rights import Transaction, require
from facade.errors import DeliveryError, FacadeError, Problem
from facade.xds.error_mapping import check_hl7v3_answer, check_soap_answer

log = logging.getLogger("facade.dmp")

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
TD02_ACTION = "urn:hl7-org:v3:PRPA_IN201307UV02"
TD02_RESPONSE_ACTION = "urn:hl7-org:v3:PRPA_IN201308UV02"
DMP_DEVICE_OID = "1.2.250.1.213.4.1.1.1"  # the DMP as an HL7v3 device (spec §2.2)
REASON_SYSTEM = "1.2.250.1.213.1.1.4.11"  # reasonCode TEST_EXST
ATTENTION_KEYWORD_SYSTEM = "1.2.250.1.213.4.1.2.6.1"  # AUTORISATION
AUTHORIZATION_VALUE_SYSTEM = "1.2.250.1.213.4.1.2.6.2"  # VALIDE ...
MT_KEYWORD_SYSTEM = "1.2.250.1.213.4.1.2.6.3"  # STATUT_MT
ENS_SYSTEM = "1.2.250.1.213.4.1.2.3"  # RATTACHEMENT_ENS
WEB_ACCOUNT_SYSTEM = "1.2.250.1.213.4.1.2.9"  # COMPTE_INTERNET_OUVERT
INS_C_OID = "1.2.250.1.213.1.4.2"

_H = f"{{{HL7_NS}}}"


@dataclass(frozen=True)
class Sender:
    """Who asks: the LPS as an HL7v3 device (its OID roots the message and query ids)."""

    device_oid: str
    software_name: str


@dataclass(frozen=True)
class PersonName:
    family: str | None
    given: tuple[str, ...]
    prefix: str | None
    qualifier: str | None  # SP (usage), BR (birth)


@dataclass(frozen=True)
class DmpPatientStatus:
    """What the DMP answered to a test of existence. ``exists`` False: no DMP (every other field empty)."""

    ins: str
    ins_oid: str
    exists: bool
    active: bool = False
    closed_on: str | None = None  # HL7 TS of the closing (registrationEvent/effectiveTime)
    closing_reason: str | None = None  # detectedIssueEvent/code/@code
    closing_text: str | None = None
    authorization: str | None = None  # AUTORISATION value code (VALIDE, ...)
    treating_physician: bool | None = None  # STATUT_MT: the caller is the patient's médecin traitant DMP
    attached_to_mes: bool | None = None  # RATTACHEMENT_ENS: the DMP is attached to Mon espace santé
    web_account_open: bool | None = None  # COMPTE_INTERNET_OUVERT
    identifiers: tuple[tuple[str, str], ...] = ()  # (root OID, extension) of patient/id
    names: tuple[PersonName, ...] = ()
    gender: str | None = None
    birth_time: str | None = None
    telecoms: tuple[tuple[str | None, str], ...] = field(default=())  # (use, value)


# ------------------------------------------------------------------------------------------------------ request


def build_request(ins: str, ins_oid: str, *, sender: Sender, now: datetime, message_uuid: str = "",
                  query_uuid: str = "") -> etree._Element:  # fmt: skip
    """The PRPA_IN201307UV02 of the GIE sample, for ``ins`` under ``ins_oid``."""
    root = etree.Element(f"{_H}PRPA_IN201307UV02", {"ITSVersion": "XML_1.0"}, nsmap={None: HL7_NS, "xsi": XSI_NS})
    etree.SubElement(root, f"{_H}id", root=f"{sender.device_oid}.1", extension=message_uuid or str(uuid.uuid4()))
    etree.SubElement(root, f"{_H}creationTime", value=now.strftime("%Y%m%d%H%M%S"))
    etree.SubElement(root, f"{_H}interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201307UV02")
    etree.SubElement(root, f"{_H}processingCode", code="P")
    etree.SubElement(root, f"{_H}processingModeCode", code="T")
    etree.SubElement(root, f"{_H}acceptAckCode", code="AL")
    _device(etree.SubElement(root, f"{_H}receiver", typeCode="RCV"), DMP_DEVICE_OID, "DMP")
    _device(etree.SubElement(root, f"{_H}sender", typeCode="SND"), sender.device_oid, sender.software_name)
    etree.SubElement(root, f"{_H}attentionLine", {f"{{{XSI_NS}}}nil": "true"})
    act = etree.SubElement(root, f"{_H}controlActProcess", classCode="CACT", moodCode="EVN")
    etree.SubElement(
        act, f"{_H}reasonCode", code="TEST_EXST", codeSystem=REASON_SYSTEM, displayName="Test d'existence de dossier"
    )
    query = etree.SubElement(act, f"{_H}queryByParameter")
    etree.SubElement(query, f"{_H}queryId", root=f"{sender.device_oid}.2", extension=query_uuid or str(uuid.uuid4()))
    etree.SubElement(query, f"{_H}statusCode", code="new")
    params = etree.SubElement(query, f"{_H}parameterList")
    etree.SubElement(params, f"{_H}dataSource", {f"{{{XSI_NS}}}nil": "true"})
    patient = etree.SubElement(params, f"{_H}patientIdentifier")
    etree.SubElement(patient, f"{_H}value", root=ins_oid, extension=ins)
    etree.SubElement(patient, f"{_H}semanticsText").text = "Patient.id"
    return root


def _device(parent: etree._Element, oid: str, name: str) -> None:
    device = etree.SubElement(parent, f"{_H}device", classCode="DEV", determinerCode="INSTANCE")
    etree.SubElement(device, f"{_H}id", root=oid)
    etree.SubElement(device, f"{_H}softwareName").text = name


# ------------------------------------------------------------------------------------------------------- answer


def _bool(el: etree._Element | None) -> bool | None:
    value = el.get("value") if el is not None else None
    return None if value is None else value.strip().lower() == "true"


def _attention(root: etree._Element, keyword: str) -> etree._Element | None:
    for line in root.iterfind(f"{_H}attentionLine"):
        key = line.find(f"{_H}keyWordText")
        if key is not None and key.get("code") == keyword:
            return line.find(f"{_H}value")
    return None


def _observation(patient: etree._Element, code: str) -> etree._Element | None:
    for obs in patient.iterfind(f"{_H}subjectOf/{_H}administrativeObservation"):
        c = obs.find(f"{_H}code")
        if c is not None and c.get("code") == code:
            return obs.find(f"{_H}value")
    return None


def _names(person: etree._Element | None) -> tuple[PersonName, ...]:
    if person is None:
        return ()
    out = []
    for name in person.iterfind(f"{_H}name"):
        family = name.find(f"{_H}family")
        prefix = name.find(f"{_H}prefix")
        out.append(
            PersonName(
                family=(family.text or "").strip() or None if family is not None else None,
                given=tuple((g.text or "").strip() for g in name.iterfind(f"{_H}given") if (g.text or "").strip()),
                prefix=(prefix.text or "").strip() or None if prefix is not None else None,
                qualifier=family.get("qualifier") if family is not None else None,
            )
        )
    return tuple(out)


def parse_answer(payload: etree._Element, ins: str, ins_oid: str) -> DmpPatientStatus:
    """A PRPA_IN201308UV02 whose acknowledgement and query response were checked (``check_hl7v3_answer``)."""
    event = payload.find(f"{_H}controlActProcess/{_H}subject/{_H}registrationEvent")
    patient = event.find(f"{_H}subject1/{_H}patient") if event is not None else None
    response_code = payload.find(f"{_H}controlActProcess/{_H}queryAck/{_H}queryResponseCode")
    if patient is None or (response_code is not None and response_code.get("code") == "NF"):
        return DmpPatientStatus(ins, ins_oid, exists=False)
    assert event is not None
    status = patient.find(f"{_H}statusCode")
    issue = payload.find(f"{_H}controlActProcess/{_H}reasonOf/{_H}detectedIssueEvent")
    effective = event.find(f"{_H}effectiveTime")
    person = patient.find(f"{_H}patientPerson")
    authorization = _attention(payload, "AUTORISATION")
    active = status is not None and status.get("code") == "active"
    return DmpPatientStatus(
        ins,
        ins_oid,
        exists=True,
        active=active,
        closed_on=effective.get("value") if effective is not None and not active else None,
        closing_reason=_child_attr(issue, "code", "code"),
        closing_text=_child_text(issue, "text"),
        authorization=authorization.get("code") if authorization is not None else None,
        treating_physician=_bool(_attention(payload, "STATUT_MT")),
        attached_to_mes=_bool(_observation(patient, "RATTACHEMENT_ENS")),
        web_account_open=_bool(_observation(patient, "COMPTE_INTERNET_OUVERT")),
        identifiers=tuple((i.get("root", ""), i.get("extension", "")) for i in patient.iterfind(f"{_H}id")),
        names=_names(person),
        gender=_child_attr(person, "administrativeGenderCode", "code"),
        birth_time=_child_attr(person, "birthTime", "value"),
        telecoms=tuple(
            (t.get("use"), t.get("value", "")) for t in (person.iterfind(f"{_H}telecom") if person is not None else ())
        ),
    )


def _child_attr(parent: etree._Element | None, child: str, attr: str) -> str | None:
    el = parent.find(f"{_H}{child}") if parent is not None else None
    return el.get(attr) if el is not None else None


def _child_text(parent: etree._Element | None, child: str) -> str | None:
    el = parent.find(f"{_H}{child}") if parent is not None else None
    return (el.text or "").strip() or None if el is not None else None


# ------------------------------------------------------------------------------------------------------ service


@dataclass(frozen=True)
class PatientStatusService:
    """TD0.2 through the DMP client, after the rights matrix (open in every mode, still asked)."""

    client: DmpClient
    sender: Sender
    auth_mode: str
    granted: tuple[str, ...]
    now: Callable[[], datetime]

    def status(self, ins: str, ins_oid: str) -> DmpPatientStatus:
        """Raises ``RemoteRejectionError`` (the one error table) when the DMP refuses or answers an error."""
        require(self.auth_mode, Transaction.TD0_2, self.granted)
        body = build_request(ins, ins_oid, sender=self.sender, now=self.now())
        request = self.client.request(DmpService.PATIENTS, TD02_ACTION, [body], patient_ins_cx=ins_cx(ins, ins_oid))
        response = self.client.transports[DmpService.PATIENTS].send(request)
        check_soap_answer(response, message_id=request.message_id)
        check_hl7v3_answer(response.payload, response)
        assert response.payload is not None
        return parse_answer(response.payload, ins, ins_oid)


def feeding_check(service: PatientStatusService) -> Callable[[str, str, str], None]:
    """The optional TD0.2 before feeding (FACADE_DMP__CHECK_STATUS_BEFORE_FEEDING): refuse a closed or absent DMP
    (P4D: feeding needs an active DMP). A DMP that cannot be asked (transport, refusal) does not block: the outbox keeps
    the submission and the DMP judges it when it is delivered."""

    def check(ins: str, ins_oid: str, expression: str) -> None:
        try:
            status = service.status(ins, ins_oid)
        except DeliveryError as exc:
            log.warning("TD0.2 before feeding failed (%s): the submission goes on", exc.problem.spec.code)
            return
        if not status.exists:
            raise FacadeError(Problem.DMP_ABSENT, expression=expression)
        if not status.active:
            since = f" since {status.closed_on[:8]}" if status.closed_on else ""
            raise FacadeError(Problem.DMP_CLOSED, expression=expression, since=since)

    return check


def ins_cx(ins: str, ins_oid: str) -> str:
    """The INS as HL7 CX, the VIHF resource id (spec §1.4)."""
    return f"{ins}^^^&{ins_oid}&ISO^NH"


__all__ = [
    "TD02_ACTION",
    "TD02_RESPONSE_ACTION",
    "DmpPatientStatus",
    "PatientStatusService",
    "PersonName",
    "Sender",
    "build_request",
    "feeding_check",
    "ins_cx",
    "parse_answer",
]
