"""ITI-18 Registry Stored Query as the simulated DMP registry answers it (TD3.1a FindDocuments, TD3.1b GetDocuments).

Reads the AdhocQueryRequest with its own parsing (independent of the facade's builders, like the ITI-41 side), checks
the DMP's rights matrix for the VIHF's Authentification_Mode (FindDocuments = TD3.1a, GetDocuments = TD3.1b) and the
patient (the query's and the VIHF's must be the same INS, known to the DMP), then answers a
``query:AdhocQueryResponse`` from the registry's ``entry`` table: every stored ExtrinsicObject in registry form
(LeafClass) or its ``rim:ObjectRef`` (ObjectRef). GetDocuments answers every version of the documents named, of
this patient only. Errors are a Failure with ``rs:RegistryErrorList`` (IHE ITI TF-3 4.2.4.1 codes:
XDSStoredQueryParamNumber, XDSUnknownStoredQuery, XDSUnknownPatientId, XDSPatientIdDoesNotMatch, XDSRegistryError);
a refusal by the rights matrix is ``DMPAccessDenied`` **[UNCERTAIN]**: no DMP code for it was found (pdsm4dmp §8).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from facade.simulator import metadata as md
from facade.simulator.config import SimulatorConfig
from facade.simulator.iti41 import Answer
from facade.simulator.iti41_rules import ins_key_valid, parse_cx
from facade.simulator.registry import Registry, StoredEntry, patient_key
from facade.simulator.script import Script
from facade.simulator.services import VerifiedRequest, soap_answer
from facade.simulator.soap12 import response_envelope
from facade.simulator.vihf import ATTR_RESOURCE_ID
from facade.soap.registry_response import RegistryError, RegistryResponse, ResponseStatus
from facade.soap.registry_response import build as build_registry_response

log = logging.getLogger("facade.simulator")

ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
RESPONSE_ACTION = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
ACCESS_DENIED = "DMPAccessDenied"
_Q = f"{{{QUERY_NS}}}"
_RIM = f"{{{md.RIM_NS}}}"

# FindDocuments coded parameters -> classification scheme; time parameters -> (slot, bound)
_CODED = {
    "$XDSDocumentEntryClassCode": md.DE_CLASS,
    "$XDSDocumentEntryTypeCode": md.DE_TYPE,
    "$XDSDocumentEntryPracticeSettingCode": md.DE_PRACTICE,
    "$XDSDocumentEntryHealthcareFacilityTypeCode": md.DE_FACILITY,
    "$XDSDocumentEntryFormatCode": md.DE_FORMAT,
    "$XDSDocumentEntryConfidentialityCode": md.DE_CONFIDENTIALITY,
    "$XDSDocumentEntryEventCodeList": md.DE_EVENT,
}
_TIMES = {
    "$XDSDocumentEntryCreationTimeFrom": ("creationTime", "from"),
    "$XDSDocumentEntryCreationTimeTo": ("creationTime", "to"),
    "$XDSDocumentEntryServiceStartTimeFrom": ("serviceStartTime", "from"),
    "$XDSDocumentEntryServiceStartTimeTo": ("serviceStartTime", "to"),
    "$XDSDocumentEntryServiceStopTimeFrom": ("serviceStopTime", "from"),
    "$XDSDocumentEntryServiceStopTimeTo": ("serviceStopTime", "to"),
}
_REFERENCE_IDS = "$XDSDocumentEntryReferenceIdList"
_REFERENCE_ID_SLOT = "urn:ihe:iti:xds:2013:referenceIdList"


class QueryError(Exception):
    def __init__(self, code: str, context: str, location: str = "") -> None:
        super().__init__(context)
        self.error = RegistryError(code, context, location or None)


# ------------------------------------------------------------------------------------------ reading the query


def split_list(value: str) -> list[str]:
    """An ITI-18 value: ``'a'``, ``('a','b')``, ``123`` or ``(123)`` -> the items, unquoted (``''`` -> ``'``)."""
    text = value.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    items, current, quoted, i = [], "", False, 0
    while i < len(text):
        char = text[i]
        if char == "'" and quoted and text[i + 1 : i + 2] == "'":
            current += "'"
            i += 1
        elif char == "'":
            quoted = not quoted
        elif char == "," and not quoted:
            items.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    if quoted:
        raise ValueError(f"guillemet non fermé dans {value!r}")
    items.append(current.strip())
    return [item for item in items if item]


@dataclass
class Query:
    query_id: str
    return_type: str
    params: dict[str, list[list[str]]] = field(default_factory=dict)  # name -> one OR-list per Value (AND)

    def single(self, name: str) -> str | None:
        values = [v for group in self.params.get(name, []) for v in group]
        if len(values) > 1:
            raise QueryError("XDSStoredQueryParamNumber", f"{name} n'accepte qu'une valeur", name)
        return values[0] if values else None

    def flat(self, name: str) -> list[str]:
        return [v for group in self.params.get(name, []) for v in group]


def read_query(payload: etree._Element | None) -> Query:
    if payload is None or payload.tag != f"{_Q}AdhocQueryRequest":
        raise QueryError("XDSRegistryError", "Le corps SOAP n'est pas un query:AdhocQueryRequest")
    option = payload.find(f"{_Q}ResponseOption")
    adhoc = payload.find(f"{_RIM}AdhocQuery")
    if option is None or adhoc is None:
        raise QueryError("XDSRegistryError", "ResponseOption et AdhocQuery sont requis")
    query = Query(adhoc.get("id") or "", option.get("returnType") or "LeafClass")
    if query.return_type not in ("LeafClass", "ObjectRef"):
        raise QueryError("XDSRegistryError", f"returnType {query.return_type} non supporté")
    for slot in adhoc.findall(f"{_RIM}Slot"):
        name = slot.get("name") or ""
        try:
            groups = [split_list(v.text or "") for v in slot.iterfind(f"{_RIM}ValueList/{_RIM}Value")]
        except ValueError as exc:
            raise QueryError("XDSRegistryError", f"{name} : {exc}", name) from None
        query.params.setdefault(name, []).extend(groups)
    return query


# ------------------------------------------------------------------------------------------------- matching


def _time_key(value: str) -> str:
    return (value.strip() + "0" * 14)[:14]


def _coded_matches(entry: md.RegistryObject, scheme: str, groups: list[list[str]]) -> bool:
    have = {(c.code, c.coding_scheme or "") for c in entry.coded(scheme)}
    for group in groups:  # AND across Values, OR inside one
        wanted = set()
        for item in group:
            parts = item.split("^")
            wanted.add((parts[0], parts[2] if len(parts) > 2 else ""))
        if not have & wanted:
            return False
    return True


def matches(entry: md.RegistryObject, query: Query) -> bool:
    """Does a stored ExtrinsicObject satisfy every FindDocuments criterion besides patient and status?"""
    for name, scheme in _CODED.items():
        if name in query.params and not _coded_matches(entry, scheme, query.params[name]):
            return False
    for name, (slot, bound) in _TIMES.items():
        limit = query.single(name)
        if limit is None:
            continue
        value = entry.slot(slot)
        if value is None:
            return False  # ITI-18: an entry without the attribute does not match a time criterion
        if bound == "from" and _time_key(value) < _time_key(limit):
            return False
        if bound == "to" and _time_key(value) >= _time_key(limit):
            return False
    wanted_refs = query.flat(_REFERENCE_IDS)
    return not wanted_refs or bool(set(entry.slots.get(_REFERENCE_ID_SLOT, [])) & set(wanted_refs))


# -------------------------------------------------------------------------------------------------- handler


class Iti18Handler:
    """The registry service's handler for WS-A Action ``urn:ihe:iti:2007:RegistryStoredQuery``."""

    def __init__(self, registry: Registry, config: SimulatorConfig, script: Script) -> None:
        self.registry = registry
        self.config = config
        self.script = script

    def __call__(self, request: VerifiedRequest) -> Answer:
        try:
            query = read_query(request.payload)
            elements = self._answer(query, request)
        except QueryError as exc:
            log.info("simulator ITI-18 RegistryError %s: %s", exc.error.error_code, exc.error.code_context)
            return self._respond(request, RegistryResponse.failure(exc.error), [])
        log.info("simulator ITI-18 %s: %d entries", query.query_id, len(elements))
        return self._respond(request, RegistryResponse.success(), elements)

    def _answer(self, query: Query, request: VerifiedRequest) -> list[etree._Element]:
        transaction = {FIND_DOCUMENTS: "TD3.1a", GET_DOCUMENTS: "TD3.1b"}.get(query.query_id)
        if transaction is None:
            raise QueryError("XDSUnknownStoredQuery", f"Requête stockée {query.query_id} inconnue", query.query_id)
        mode = next((request.vihf.value(n) for n in self.config.mode_attribute_names if request.vihf.value(n)), None)
        if not self.config.may(mode, transaction):
            raise QueryError(ACCESS_DENIED, f"Accès refusé : {transaction} non autorisée en mode {mode}")
        vihf_patient = request.vihf.value(ATTR_RESOURCE_ID) or ""
        if query.query_id == FIND_DOCUMENTS:
            stored = self._find(query, vihf_patient)
        else:
            stored = self._get(query, vihf_patient)
        if query.return_type == "ObjectRef":
            ids = [e.entry_uuid if isinstance(e, StoredEntry) else e.get("id") or "" for e in stored]
            return [etree.Element(f"{_RIM}ObjectRef", id=i) for i in ids]
        return [e.element() if isinstance(e, StoredEntry) else e for e in stored]

    def _check_patient(self, cx: str, vihf_patient: str) -> None:
        parsed = parse_cx(cx)
        if parsed is None:
            raise QueryError(
                "XDSRegistryError", f"{cx} n'est pas un CX <INS>^^^&<OID>&ISO^NH", "$XDSDocumentEntryPatientId"
            )
        ins, oid = parsed
        if oid not in self.config.accepted_ins_oids or not ins_key_valid(ins):
            raise QueryError("XDSUnknownPatientId", f"INS {ins} ({oid}) inconnu du DMP", "$XDSDocumentEntryPatientId")
        if self.script.is_unknown(ins) or ins in self.config.unknown_ins:
            raise QueryError("XDSUnknownPatientId", f"Patient {ins} inconnu du DMP", "$XDSDocumentEntryPatientId")
        if patient_key(cx) != patient_key(vihf_patient):
            raise QueryError("XDSPatientIdDoesNotMatch", "Le patient de la requête n'est pas celui du VIHF")

    def _find(self, query: Query, vihf_patient: str) -> Sequence[StoredEntry | etree._Element]:
        patient = query.single("$XDSDocumentEntryPatientId")
        statuses = query.flat("$XDSDocumentEntryStatus")
        for name, present in (("$XDSDocumentEntryPatientId", patient), ("$XDSDocumentEntryStatus", statuses)):
            if not present:
                raise QueryError("XDSStoredQueryParamNumber", f"Paramètre {name} obligatoire absent", name)
        assert patient is not None
        self._check_patient(patient, vihf_patient)
        candidates = self.registry.entries(patient_id=patient, statuses=statuses)
        if not any(name in query.params for name in (*_CODED, *_TIMES, _REFERENCE_IDS)):
            return candidates
        found: list[StoredEntry | etree._Element] = []
        for entry in candidates:  # parsed once: matched, then answered as it is
            element = entry.element()
            if matches(md.read_registry_object(element, "ExtrinsicObject"), query):
                found.append(element)
        return found

    def _get(self, query: Query, vihf_patient: str) -> list[StoredEntry]:
        unique_ids = query.flat("$XDSDocumentEntryUniqueId")
        entry_uuids = query.flat("$XDSDocumentEntryEntryUUID")
        if bool(unique_ids) == bool(entry_uuids):
            raise QueryError(
                "XDSStoredQueryParamNumber", "GetDocuments : $XDSDocumentEntryUniqueId ou $XDSDocumentEntryEntryUUID"
            )
        self._check_patient(vihf_patient, vihf_patient)
        # the DMP answers for the VIHF's patient only: another patient's document is not disclosed
        return self.registry.entries(patient_id=vihf_patient, unique_ids=unique_ids, entry_uuids=entry_uuids)

    def _respond(
        self, request: VerifiedRequest, status: RegistryResponse, elements: Sequence[etree._Element]
    ) -> Answer:
        envelope = adhoc_query_response(status, elements, relates_to=request.message_id)
        outcome = "success" if status.status is ResponseStatus.SUCCESS else "failure"
        return soap_answer(envelope, RESPONSE_ACTION, outcome)


def adhoc_query_response(
    status: RegistryResponse, elements: Sequence[etree._Element], *, relates_to: str | None
) -> bytes:
    """The SOAP 1.2 envelope of a ``query:AdhocQueryResponse`` (header order of the kit's TD3.1 response)."""
    env, body = response_envelope(RESPONSE_ACTION, relates_to)  # the header order of the kit's TD3.1 response
    response = etree.SubElement(
        body, f"{_Q}AdhocQueryResponse", nsmap={"query": QUERY_NS, "rim": md.RIM_NS, "rs": RS_NS}
    )
    response.set("status", status.status.value)
    errors = build_registry_response(status).find(f"{{{RS_NS}}}RegistryErrorList")
    if errors is not None:
        response.append(errors)
    else:
        response.set("startIndex", "0")
        response.set("totalResultCount", str(len(elements)))
    object_list = etree.SubElement(response, f"{_RIM}RegistryObjectList")
    for element in elements:
        object_list.append(element)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))
