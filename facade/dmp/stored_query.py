"""ITI-18 Registry Stored Query to the DMP registry (TD3.1a FindDocuments, TD3.1b GetDocuments), and its answer.

Shapes from the kit's official TD3.1 request (``examples/dmp/TD3.1_recherche_document_request.xml``): WS-A Action
``urn:ihe:iti:2007:RegistryStoredQuery`` to the ``registry`` service, ``query:AdhocQueryRequest`` with
``ResponseOption returnComposedObjects="true" returnType="LeafClass"``, ``AdhocQuery id=<stored query UUID>``, slot
values in the ITI-18 syntax (IHE ITI TF-2a 3.18.4.1.2.3.6-7): a string ``'...'`` (single quotes doubled), a list
``('a','b')`` (OR), a coded value ``code^^codingScheme``, a time unquoted (``yyyyMMddHHmmss`` or shorter; From is
inclusive, To exclusive). GetDocuments by uniqueId follows DRIM's ``FindEntryUUIDDocumentRequest`` (pdsm4dmp §3.1).

The answer is ``query:AdhocQueryResponse`` (an ebRS RegistryResponseType): Failure → ``RemoteRejectionError`` with
one issue per RegistryError through the one table (``facade.xds.error_mapping``); Success / PartialSuccess → one
``RegistryEntry`` per ExtrinsicObject (or ObjectRef). Each call carries its own VIHF naming the patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from facade.dmp.client import DmpClient, DmpService
from facade.dmp.registry_entry import RegistryEntry, entries_from_object_list
from facade.errors import Issue, Problem, RemoteRejectionError
from facade.model.document import Code
from facade.soap import registry_response
from facade.soap.envelope import SoapResponse
from facade.xds.codes import RIM_NS, RS_NS, AvailabilityStatus
from facade.xds.error_mapping import fault_issue, fault_rule, is_retryable, to_issues

QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
ITI18_ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
ITI18_RESPONSE_ACTION = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
_Q = f"{{{QUERY_NS}}}"
_RIM = f"{{{RIM_NS}}}"


class StoredQuery(StrEnum):
    """AdhocQuery/@id of the stored queries (IHE ITI TF-2a 3.18.4.1.2.3.7; pdsm4dmp §3.1)."""

    FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"


class ReturnType(StrEnum):
    LEAF_CLASS = "LeafClass"  # full metadata (ExtrinsicObject)
    OBJECT_REF = "ObjectRef"  # entryUUIDs only


class QueryParameter(StrEnum):
    """The slot names this facade sends (IHE ITI TF-2a 3.18.4.1.2.3.7.1 FindDocuments, .5 GetDocuments)."""

    PATIENT_ID = "$XDSDocumentEntryPatientId"
    STATUS = "$XDSDocumentEntryStatus"
    CLASS_CODE = "$XDSDocumentEntryClassCode"
    TYPE_CODE = "$XDSDocumentEntryTypeCode"
    PRACTICE_SETTING_CODE = "$XDSDocumentEntryPracticeSettingCode"
    HEALTHCARE_FACILITY_TYPE_CODE = "$XDSDocumentEntryHealthcareFacilityTypeCode"
    FORMAT_CODE = "$XDSDocumentEntryFormatCode"
    CONFIDENTIALITY_CODE = "$XDSDocumentEntryConfidentialityCode"
    EVENT_CODE_LIST = "$XDSDocumentEntryEventCodeList"
    CREATION_TIME_FROM = "$XDSDocumentEntryCreationTimeFrom"
    CREATION_TIME_TO = "$XDSDocumentEntryCreationTimeTo"
    SERVICE_START_TIME_FROM = "$XDSDocumentEntryServiceStartTimeFrom"
    SERVICE_START_TIME_TO = "$XDSDocumentEntryServiceStartTimeTo"
    SERVICE_STOP_TIME_FROM = "$XDSDocumentEntryServiceStopTimeFrom"
    SERVICE_STOP_TIME_TO = "$XDSDocumentEntryServiceStopTimeTo"
    REFERENCE_ID_LIST = "$XDSDocumentEntryReferenceIdList"
    ENTRY_UUID = "$XDSDocumentEntryEntryUUID"
    UNIQUE_ID = "$XDSDocumentEntryUniqueId"


DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"  # DMP "dépublié" (JDV_J52, TD3.3c)
CURRENT_STATUSES = (AvailabilityStatus.APPROVED.value, AvailabilityStatus.ARCHIVED.value)


@dataclass(frozen=True)
class FindCriteria:
    """FindDocuments criteria besides the patient. Each tuple is one OR-list (one slot, one Value); empty = not sent.
    Times are XDS DTM strings (UTC). The official TD3.1 sample sends the status alone: the default."""

    statuses: tuple[str, ...] = (AvailabilityStatus.APPROVED.value,)
    class_codes: tuple[Code, ...] = ()
    type_codes: tuple[Code, ...] = ()
    practice_setting_codes: tuple[Code, ...] = ()
    facility_type_codes: tuple[Code, ...] = ()
    format_codes: tuple[Code, ...] = ()
    confidentiality_codes: tuple[Code, ...] = ()
    event_codes: tuple[Code, ...] = ()
    creation_time_from: str | None = None
    creation_time_to: str | None = None
    service_start_time_from: str | None = None
    service_start_time_to: str | None = None
    service_stop_time_from: str | None = None
    service_stop_time_to: str | None = None
    reference_ids: tuple[str, ...] = ()
    return_type: ReturnType = ReturnType.LEAF_CLASS


# ------------------------------------------------------------------------------------------------ slot values


def quoted(value: str) -> str:
    """An ITI-18 string literal: single quotes, an embedded quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def value_list(values: Sequence[str]) -> str:
    """An ITI-18 multi-valued parameter: ``('a','b')`` (OR)."""
    return "(" + ",".join(quoted(v) for v in values) + ")"


def coded(code: Code) -> str:
    """A coded value as ITI-18 expects it: ``code^^codingScheme``."""
    return f"{code.code}^^{code.system}"


def find_documents_slots(patient_ins_cx: str, criteria: FindCriteria) -> list[tuple[str, str]]:
    """(slot name, Value) pairs in the order the official sample uses: patient, status, then the rest."""
    slots = [(QueryParameter.PATIENT_ID.value, quoted(patient_ins_cx))]
    if criteria.statuses:
        slots.append((QueryParameter.STATUS.value, value_list(criteria.statuses)))
    for name, codes in (
        (QueryParameter.CLASS_CODE, criteria.class_codes),
        (QueryParameter.TYPE_CODE, criteria.type_codes),
        (QueryParameter.PRACTICE_SETTING_CODE, criteria.practice_setting_codes),
        (QueryParameter.HEALTHCARE_FACILITY_TYPE_CODE, criteria.facility_type_codes),
        (QueryParameter.FORMAT_CODE, criteria.format_codes),
        (QueryParameter.CONFIDENTIALITY_CODE, criteria.confidentiality_codes),
        (QueryParameter.EVENT_CODE_LIST, criteria.event_codes),
    ):
        if codes:
            slots.append((name.value, value_list([coded(c) for c in codes])))
    for name, when in (
        (QueryParameter.CREATION_TIME_FROM, criteria.creation_time_from),
        (QueryParameter.CREATION_TIME_TO, criteria.creation_time_to),
        (QueryParameter.SERVICE_START_TIME_FROM, criteria.service_start_time_from),
        (QueryParameter.SERVICE_START_TIME_TO, criteria.service_start_time_to),
        (QueryParameter.SERVICE_STOP_TIME_FROM, criteria.service_stop_time_from),
        (QueryParameter.SERVICE_STOP_TIME_TO, criteria.service_stop_time_to),
    ):
        if when:
            slots.append((name.value, when))  # numbers: unquoted
    if criteria.reference_ids:
        slots.append((QueryParameter.REFERENCE_ID_LIST.value, value_list(criteria.reference_ids)))
    return slots


# --------------------------------------------------------------------------------------------------- builders


def adhoc_query_request(
    query: StoredQuery, slots: Sequence[tuple[str, str]], return_type: ReturnType
) -> etree._Element:
    """``query:AdhocQueryRequest`` (rim as default namespace, as in the official sample)."""
    request = etree.Element(f"{_Q}AdhocQueryRequest", nsmap={None: RIM_NS, "query": QUERY_NS})
    etree.SubElement(request, f"{_Q}ResponseOption", returnComposedObjects="true", returnType=return_type.value)
    adhoc = etree.SubElement(request, f"{_RIM}AdhocQuery", id=query.value)
    for name, value in slots:
        slot = etree.SubElement(adhoc, f"{_RIM}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{_RIM}ValueList"), f"{_RIM}Value").text = value
    return request


def build_find_documents(patient_ins_cx: str, criteria: FindCriteria) -> etree._Element:
    """TD3.1a: FindDocuments for one patient (INS as CX) with the criteria."""
    slots = find_documents_slots(patient_ins_cx, criteria)
    return adhoc_query_request(StoredQuery.FIND_DOCUMENTS, slots, criteria.return_type)


def build_get_documents(
    unique_ids: Sequence[str] = (),
    *,
    entry_uuids: Sequence[str] = (),
    return_type: ReturnType = ReturnType.LEAF_CLASS,
) -> etree._Element:
    """TD3.1b: GetDocuments by uniqueId (or by entryUUID: exactly one of the two, as ITI-18 requires)."""
    if bool(unique_ids) == bool(entry_uuids):
        raise ValueError("GetDocuments takes uniqueIds or entryUUIDs, one of the two")
    name = QueryParameter.UNIQUE_ID if unique_ids else QueryParameter.ENTRY_UUID
    return adhoc_query_request(
        StoredQuery.GET_DOCUMENTS, [(name.value, value_list(list(unique_ids or entry_uuids)))], return_type
    )


# ----------------------------------------------------------------------------------------------------- answer


def _reject(issues: list[Issue], *, retryable: bool, response: SoapResponse) -> RemoteRejectionError:
    return RemoteRejectionError(issues[0].problem, issues=issues, retryable=retryable, response=response)


def _invalid(reason: str, response: SoapResponse) -> RemoteRejectionError:
    issue = Issue(Problem.SOAP_RESPONSE_INVALID, details={"reason": reason})
    return _reject([issue], retryable=False, response=response)


def read_query_response(response: SoapResponse, *, message_id: str | None = None) -> list[RegistryEntry]:
    """The AdhocQueryResponse -> entries; a fault, a Failure or a foreign body -> RemoteRejectionError."""
    if response.fault is not None:
        rule = fault_rule(response.fault)
        raise _reject([fault_issue(response.fault)], retryable=rule.retryable, response=response)
    if message_id and response.relates_to and response.relates_to != message_id:
        reason = f"RelatesTo {response.relates_to} does not answer MessageID {message_id}"
        raise _invalid(reason, response)
    payload = response.payload
    if payload is not None and payload.tag == f"{{{RS_NS}}}RegistryResponse":  # some registries fail this way
        status = registry_response.parse(payload)
    elif payload is not None and payload.tag == f"{_Q}AdhocQueryResponse":
        status = registry_response.parse_status(payload)
    else:
        got = payload.tag if payload is not None else "an empty Body"
        raise _invalid(f"expected query:AdhocQueryResponse, got {got}", response)
    if status.status is registry_response.ResponseStatus.FAILURE:
        issues = to_issues(status)
        errors = [i for i in issues if i.is_error] or issues
        raise _reject(
            errors + [i for i in issues if i not in errors], retryable=is_retryable(status), response=response
        )
    object_list = payload.find(f"{_RIM}RegistryObjectList")
    return entries_from_object_list(object_list) if object_list is not None else []


def run_query(client: DmpClient, patient_ins_cx: str, query: etree._Element) -> list[RegistryEntry]:
    """Send one AdhocQueryRequest to the registry with a VIHF for this patient and read the answer."""
    request = client.request(DmpService.REGISTRY, ITI18_ACTION, [query], patient_ins_cx=patient_ins_cx)
    response = client.transports[DmpService.REGISTRY].send(request)
    return read_query_response(response, message_id=request.message_id)


# ----------------------------------------------------------------------------------------- public contract


def find_documents(client: DmpClient, patient_ins_cx: str, criteria: FindCriteria) -> list[RegistryEntry]:
    """TD3.1a FindDocuments: the patient's DocumentEntries matching ``criteria``, as the DMP answers them."""
    return run_query(client, patient_ins_cx, build_find_documents(patient_ins_cx, criteria))


def get_documents(client: DmpClient, patient_ins_cx: str, unique_ids: Sequence[str]) -> list[RegistryEntry]:
    """TD3.1b GetDocuments by uniqueId (LeafClass): every version the DMP holds for these documents."""
    if not unique_ids:
        return []
    return run_query(client, patient_ins_cx, build_get_documents(unique_ids))


def latest_current(entries: Sequence[RegistryEntry], unique_id: str | None = None) -> RegistryEntry | None:
    """The Approved/Archived entry with the highest version (pdsm4dmp §3.4: what a metadata update starts from)."""
    current = [e for e in entries if e.is_current and (unique_id is None or e.unique_id == unique_id)]
    return max(current, key=lambda e: _version_key(e.version), default=None)


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (-1, version)


__all__ = [
    "CURRENT_STATUSES",
    "DELETED",
    "ITI18_ACTION",
    "ITI18_RESPONSE_ACTION",
    "QUERY_NS",
    "FindCriteria",
    "QueryParameter",
    "RegistryEntry",
    "ReturnType",
    "StoredQuery",
    "build_find_documents",
    "build_get_documents",
    "find_documents",
    "get_documents",
    "latest_current",
    "read_query_response",
    "run_query",
]
