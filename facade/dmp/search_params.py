"""``GET [base]/DocumentReference?...`` parameters (PDSm ITI-67 as P4D TD3.1 maps them) -> an ITI-18 query.

The mapping (pdsm4dmp §3.1, P4D td3.1a table; IHE MHD ITI-67 for ``date`` / ``period``):

- ``patient.identifier=<INS system>|<INS>`` (required): ``$XDSDocumentEntryPatientId`` and the VIHF resource-id;
- ``status`` (required without ``identifier``): ``$XDSDocumentEntryStatus``; current -> Approved + Archived,
  superseded -> Deprecated, entered-in-error -> Deleted;
- ``type`` / ``category`` / ``facility`` / ``setting`` / ``format`` / ``security-label`` / ``event``: the Type /
  Class / HealthcareFacilityType / PracticeSetting / Format / Confidentiality / EventCodeList codes;
- ``date``: creationTime From/To; ``period``: ge -> ServiceStopTimeFrom, le -> ServiceStartTimeTo (overlap);
- ``related``: ``$XDSDocumentEntryReferenceIdList``;
- ``identifier=urn:ietf:rfc:3986|urn:oid:<uniqueId>`` (or ``…|urn:uuid:<entryUUID>``): GetDocuments (TD3.1b);
- ``_count``, ``_offset``: paging, done by the facade (ITI-18 has none).

A token's system is turned into the OID XDS needs (``urn:oid:``, canonical and NOS URIs); a code without a
system cannot be searched in XDS (400). Comma = OR (one ITI-18 list); a parameter repeated = AND, kept for the time
windows and ``status`` (intersection) and refused for codes (ITI-18 ANDs only confidentiality and event codes; not
offered yet). Unknown parameters: 400
``search-parameter-unknown`` with ``Prefer: handling=strict``, else ignored with a warning (FHIR R4 search 3.1.1.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from facade.dmp.ins_param import parse_ins_parameter
from facade.dmp.stored_query import DELETED, FindCriteria
from facade.errors import Issue, Problem, RequestError
from facade.model.document import Code
from facade.model.identifiers import oid_from_urn
from facade.terminology.uri_mapper import uri_to_oid
from facade.xds.codes import AvailabilityStatus

PATIENT = "patient.identifier"
CODED = {
    "type": "type_codes",
    "category": "class_codes",
    "facility": "facility_type_codes",
    "setting": "practice_setting_codes",
    "format": "format_codes",
    "security-label": "confidentiality_codes",
    "event": "event_codes",
}
# repeated = AND: a time window (date, period) and status (intersection); a repeated code list is refused (the
# criteria hold one OR-list per code parameter)
AND_ALLOWED = frozenset({"date", "period", "status"})
SUPPORTED = frozenset(
    {PATIENT, "status", "identifier", "date", "period", "related", "_count", "_offset", "_format", *CODED}
)
FHIR_STATUS = {
    "current": (AvailabilityStatus.APPROVED.value, AvailabilityStatus.ARCHIVED.value),
    "superseded": (AvailabilityStatus.DEPRECATED.value,),
    "entered-in-error": (DELETED,),
}
RFC3986 = "urn:ietf:rfc:3986"


@dataclass(frozen=True)
class DocumentSearch:
    """A parsed search: what to ask the DMP, which page to answer, what to echo in the links."""

    ins: str  # the 15-character matricule
    ins_oid: str
    criteria: FindCriteria
    unique_ids: tuple[str, ...] = ()  # identifier=urn:oid:... -> GetDocuments by uniqueId
    entry_uuids: tuple[str, ...] = ()  # identifier=urn:uuid:... -> GetDocuments by entryUUID
    status_filter: frozenset[str] = frozenset()  # XDS statuses a GetDocuments answer is narrowed to (empty: all)
    count: int = 20
    offset: int = 0
    echoed: tuple[tuple[str, str], ...] = ()  # the parameters as understood (for the self/next links)
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def patient_ins_cx(self) -> str:
        return f"{self.ins}^^^&{self.ins_oid}&ISO^NH"

    @property
    def by_identifier(self) -> bool:
        return bool(self.unique_ids or self.entry_uuids)


@dataclass(frozen=True)
class SearchLimits:
    accepted_ins_oids: frozenset[str]
    default_count: int = 20
    max_count: int = 100


def _invalid(parameter: str, value: str, reason: str) -> Issue:
    return Issue(
        Problem.SEARCH_INVALID_PARAMETER, parameter, {"parameter": parameter, "value": value, "reason": reason}
    )


def _values(params: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in params if n == name]


def _tokens(values: Sequence[str]) -> list[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


# ------------------------------------------------------------------------------------------------- patient


def parse_patient(params: Sequence[tuple[str, str]], accepted: frozenset[str]) -> tuple[str, str]:
    """(INS, INS OID) of ``patient.identifier``; RequestError with the INS codes of a submission otherwise."""
    tokens = _tokens(_values(params, PATIENT))
    if len(tokens) != 1:
        reason = (
            "the DMP is searched one patient at a time (PDSm ITI-67: patient.identifier and status)"
            if not tokens
            else f"it names {len(tokens)} patients; give one"
        )
        raise RequestError(Problem.SEARCH_REQUIRED_PARAMETER, expression=PATIENT, parameter=PATIENT, reason=reason)
    query = parse_ins_parameter(  # one token: the "missing" problem cannot arise here
        tokens, name=PATIENT, accepted=accepted, missing=Problem.SEARCH_REQUIRED_PARAMETER, expression=PATIENT
    )
    return query.ins, query.oid


# ------------------------------------------------------------------------------------------------- tokens


def parse_codes(name: str, values: Sequence[str], issues: list[Issue]) -> tuple[Code, ...]:
    codes = []
    for token in _tokens(values):
        system, bar, code = token.partition("|")
        oid = uri_to_oid(system) if bar else None
        if not bar or not code:
            issues.append(_invalid(name, token, "give system|code: XDS searches a code within its coding scheme"))
        elif oid is None:
            issues.append(_invalid(name, token, f"unknown code system {system} (give urn:oid:<OID> or a NOS URI)"))
        else:
            codes.append(Code(code, oid, ""))
    return tuple(codes)


def parse_statuses(values: Sequence[str], issues: list[Issue]) -> tuple[str, ...]:
    """The XDS statuses of every ``status`` occurrence (comma = OR; occurrences = AND: their intersection)."""
    chosen: set[str] | None = None
    for value in values:
        here: set[str] = set()
        for token in _tokens([value]):
            if token not in FHIR_STATUS:
                issues.append(_invalid("status", token, f"expected one of {', '.join(FHIR_STATUS)}"))
            else:
                here.update(FHIR_STATUS[token])
        chosen = here if chosen is None else chosen & here
    order = [s for statuses in FHIR_STATUS.values() for s in statuses]
    return tuple(s for s in order if s in (chosen or set()))


def parse_identifiers(values: Sequence[str], issues: list[Issue]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(uniqueIds, entryUUIDs) of ``identifier`` (``urn:ietf:rfc:3986|urn:oid:X`` / ``…|urn:uuid:X``)."""
    unique_ids, entry_uuids = [], []
    for token in _tokens(values):
        system, bar, value = token.partition("|")
        value = value if bar else system
        if bar and system != RFC3986:
            issues.append(_invalid("identifier", token, f"the DMP's identifiers are URIs: use {RFC3986}|urn:oid:..."))
        elif value.startswith("urn:oid:") and oid_from_urn(value):
            unique_ids.append(value.removeprefix("urn:oid:"))
        elif value.startswith("urn:uuid:") and len(value) == 45:
            entry_uuids.append(value)
        else:
            issues.append(_invalid("identifier", token, "expected urn:oid:<uniqueId> or urn:uuid:<entryUUID>"))
    if unique_ids and entry_uuids:
        issues.append(_invalid("identifier", ",".join(values), "give uniqueIds or entryUUIDs, not both"))
    return tuple(unique_ids), tuple(entry_uuids)


def parse_related(values: Sequence[str], issues: list[Issue]) -> tuple[str, ...]:
    """``related`` -> referenceIdList CXi values (``value^^^&<OID>&ISO[^type]``), given as a token or a CXi."""
    found = []
    for token in _tokens(values):
        system, bar, value = token.partition("|")
        oid = oid_from_urn(system) if bar else None
        if not bar and "^" in token:
            found.append(token)
        elif oid and value:
            found.append(f"{value}^^^&{oid}&ISO")
        else:
            issues.append(_invalid("related", token, "give urn:oid:<assigning authority>|<id>, or the CXi value"))
    return tuple(found)


# --------------------------------------------------------------------------------------------------- times


def _instant_range(raw: str) -> tuple[datetime, datetime]:
    """[start, end) of a FHIR date / dateTime at its own precision, in UTC (no offset: UTC)."""
    if len(raw) == 4:
        start = datetime(int(raw), 1, 1, tzinfo=UTC)
        return start, start.replace(year=start.year + 1)
    if len(raw) == 7:
        start = datetime(int(raw[:4]), int(raw[5:7]), 1, tzinfo=UTC)
        nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, nxt
    if len(raw) == 10:
        start = datetime.fromisoformat(raw).replace(tzinfo=UTC)
        return start, start + timedelta(days=1)
    when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when, when + timedelta(seconds=1)


def _dtm(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def parse_times(name: str, values: Sequence[str], issues: list[Issue]) -> dict[str, str]:
    """FindCriteria time fields of ``date`` (creationTime) or ``period`` (service times, overlap as MHD reads it)."""
    lower, upper = (
        ("creation_time_from", "creation_time_to")
        if name == "date"
        else ("service_stop_time_from", "service_start_time_to")
    )
    out: dict[str, str] = {}
    for token in _tokens(values):
        prefix = token[:2] if token[:2].isalpha() else "eq"
        raw = token[2:] if token[:2].isalpha() else token
        try:
            start, end = _instant_range(raw)
        except ValueError:
            issues.append(_invalid(name, token, "expected [ge|gt|le|lt|eq]<date or dateTime>"))
            continue
        if prefix not in ("eq", "ge", "gt", "le", "lt"):
            issues.append(_invalid(name, token, f"prefix {prefix} is not supported (eq, ge, gt, le, lt)"))
            continue
        if prefix in ("eq", "ge", "gt"):
            out[lower] = max(out.get(lower, ""), _dtm(end if prefix == "gt" else start))
        if prefix in ("eq", "le", "lt"):
            candidate = _dtm(start if prefix == "lt" else end)
            out[upper] = min(out.get(upper, candidate), candidate)
    return out


# ------------------------------------------------------------------------------------------------- paging


def parse_int(name: str, values: Sequence[str], default: int, maximum: int, issues: list[Issue]) -> int:
    if not values:
        return default
    try:
        number = int(values[-1])
    except ValueError:
        number = -1
    if number < 0:
        issues.append(_invalid(name, values[-1], "expected an integer, 0 or more"))
        return default
    if number > maximum:  # a page size above the limit is served at the limit (FHIR: no more than asked), said so
        issues.append(replace(_invalid(name, values[-1], f"served {maximum} per page at most"), severity="warning"))
        return maximum
    return number


# ------------------------------------------------------------------------------------------------ the whole


def check_names(params: Sequence[tuple[str, str]], *, strict: bool, issues: list[Issue]) -> list[Issue]:
    """Unknown parameters (errors when strict, else warnings) and single-valued ones given twice."""
    warnings: list[Issue] = []
    listed = ", ".join(sorted(SUPPORTED))
    for name in sorted({n for n, _ in params if n not in SUPPORTED}):
        issue = Issue(Problem.SEARCH_PARAMETER_UNKNOWN, name, {"name": name, "supported": listed})
        (issues if strict else warnings).append(issue if strict else replace(issue, severity="warning"))
    for name in sorted({n for n, _ in params if n in SUPPORTED and n not in AND_ALLOWED and n != PATIENT}):
        if len(_values(params, name)) > 1:
            issues.append(_invalid(name, "&".join(_values(params, name)), "give it once (comma = OR)"))
    return warnings


def parse_search(params: Sequence[tuple[str, str]], limits: SearchLimits, *, strict: bool = False) -> DocumentSearch:
    """All the request's problems at once (RequestError), else the DocumentSearch."""
    ins, ins_oid = parse_patient(params, limits.accepted_ins_oids)
    issues: list[Issue] = []
    warnings = check_names(params, strict=strict, issues=issues)
    statuses = parse_statuses(_values(params, "status"), issues)
    unique_ids, entry_uuids = parse_identifiers(_values(params, "identifier"), issues)
    if not _values(params, "status") and not (unique_ids or entry_uuids):
        issues.append(
            Issue(
                Problem.SEARCH_REQUIRED_PARAMETER,
                "status",
                {"parameter": "status", "reason": "PDSm ITI-67 searches carry status (e.g. status=current)"},
            )
        )
    fields: dict[str, Any] = {attr: parse_codes(n, _values(params, n), issues) for n, attr in CODED.items()}
    fields.update(parse_times("date", _values(params, "date"), issues))
    fields.update(parse_times("period", _values(params, "period"), issues))
    fields["reference_ids"] = parse_related(_values(params, "related"), issues)
    count = parse_int("_count", _values(params, "_count"), limits.default_count, limits.max_count, issues)
    offset = parse_int("_offset", _values(params, "_offset"), 0, 10**6, issues)
    if any(i.is_error for i in issues):
        errors = [i for i in issues if i.is_error]
        raise RequestError(errors[0].problem, issues=errors)
    warnings += [i for i in issues if not i.is_error]
    echoed = tuple((n, v) for n, v in params if n in SUPPORTED and n not in ("_offset", "_format"))
    return DocumentSearch(
        ins=ins,
        ins_oid=ins_oid,
        criteria=FindCriteria(statuses=statuses, **fields),
        unique_ids=unique_ids,
        entry_uuids=entry_uuids,
        status_filter=frozenset(statuses),
        count=count,
        offset=offset,
        echoed=echoed,
        warnings=tuple(warnings),
    )


def strict_handling(prefer: str | None) -> bool:
    """``Prefer: handling=strict`` (RFC 7240 preference, FHIR R4 http 3.1.0.1.5); lenient otherwise."""
    for part in (prefer or "").replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "handling":
            return value.strip().strip('"').lower() == "strict"
    return False


__all__ = ["DocumentSearch", "SearchLimits", "parse_search", "strict_handling"]
