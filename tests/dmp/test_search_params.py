"""PDSm ITI-67 parameters -> ITI-18 criteria (facade/dmp/search_params.py): pure, no DMP."""

from __future__ import annotations

import pytest

from facade.dmp.search_params import SearchLimits, parse_search, strict_handling
from facade.errors import RequestError
from facade.model.document import Code
from facade.model.identifiers import INS_OIDS_TEST, nir_key

BODY = "2800575123456"
INS = BODY + nir_key(BODY)
PATIENT = ("patient.identifier", f"urn:oid:1.2.250.1.213.1.4.10|{INS}")
LIMITS = SearchLimits(INS_OIDS_TEST)
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"


def _codes(exc: pytest.ExceptionInfo[RequestError]) -> list[tuple[str, str | None]]:
    return [(i.problem.spec.code, i.expression) for i in exc.value.issues]


def test_the_patient_and_the_statuses_become_the_query() -> None:
    search = parse_search([PATIENT, ("status", "current")], LIMITS)
    assert search.patient_ins_cx == f"{INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert search.criteria.statuses == (APPROVED, ARCHIVED)
    assert not search.by_identifier and search.count == 20 and search.offset == 0
    both = parse_search([PATIENT, ("status", "superseded,current")], LIMITS)
    assert both.criteria.statuses == (APPROVED, ARCHIVED, DEPRECATED)
    intersected = parse_search([PATIENT, ("status", "superseded,current"), ("status", "superseded")], LIMITS)
    assert intersected.criteria.statuses == (DEPRECATED,)


def test_codes_carry_their_oid() -> None:
    search = parse_search(
        [
            PATIENT,
            ("status", "current"),
            ("type", "http://loinc.org|11490-0,http://loinc.org|34133-9"),
            ("security-label", "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
             "TRE-A07-StatutVisibiliteDocument|MASQUE_PS"),
            ("category", "urn:oid:1.2.250.1.213.1.1.4.1|10"),
        ],
        LIMITS,
    )  # fmt: skip
    assert search.criteria.type_codes == (
        Code("11490-0", "2.16.840.1.113883.6.1", ""),
        Code("34133-9", "2.16.840.1.113883.6.1", ""),
    )
    assert search.criteria.confidentiality_codes == (Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13", ""),)
    assert search.criteria.class_codes == (Code("10", "1.2.250.1.213.1.1.4.1", ""),)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["ge2024-03-01"], {"creation_time_from": "20240301000000"}),
        (["gt2024-03-01"], {"creation_time_from": "20240302000000"}),
        (["le2024-03"], {"creation_time_to": "20240401000000"}),
        (["lt2024"], {"creation_time_to": "20240101000000"}),
        (["2024-12"], {"creation_time_from": "20241201000000", "creation_time_to": "20250101000000"}),
        (["ge2024-03-01T10:00:00+02:00"], {"creation_time_from": "20240301080000"}),
        (["ge2023", "le2024-06-30"], {"creation_time_from": "20230101000000", "creation_time_to": "20240701000000"}),
    ],
)
def test_date_is_the_creation_time_window(values: list[str], expected: dict[str, str]) -> None:
    search = parse_search([PATIENT, ("status", "current"), *[("date", v) for v in values]], LIMITS)
    got = {k: getattr(search.criteria, k) for k in ("creation_time_from", "creation_time_to")}
    assert {k: v for k, v in got.items() if v} == expected


def test_period_overlaps_the_service_times() -> None:
    search = parse_search(
        [PATIENT, ("status", "current"), ("period", "ge2024-01-01"), ("period", "le2024-12-31")], LIMITS
    )
    assert search.criteria.service_stop_time_from == "20240101000000"
    assert search.criteria.service_start_time_to == "20250101000000"
    assert search.criteria.creation_time_from is None


def test_identifier_is_a_get_documents_and_needs_no_status() -> None:
    search = parse_search([PATIENT, ("identifier", "urn:ietf:rfc:3986|urn:oid:1.2.3.4,urn:oid:1.2.3.5")], LIMITS)
    assert search.unique_ids == ("1.2.3.4", "1.2.3.5") and search.by_identifier
    uuid = "urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-000000000021"
    assert parse_search([PATIENT, ("identifier", uuid)], LIMITS).entry_uuids == (uuid,)
    with pytest.raises(RequestError) as mixed:
        parse_search([PATIENT, ("identifier", f"urn:oid:1.2.3,{uuid}")], LIMITS)
    assert _codes(mixed) == [("search-invalid-parameter", "identifier")]


def test_every_problem_of_a_request_comes_back_at_once() -> None:
    with pytest.raises(RequestError) as caught:
        parse_search(
            [PATIENT, ("status", "current,final"), ("type", "11490-0"), ("date", "soon"), ("_count", "ten")], LIMITS
        )
    assert _codes(caught) == [
        ("search-invalid-parameter", "status"),
        ("search-invalid-parameter", "type"),
        ("search-invalid-parameter", "date"),
        ("search-invalid-parameter", "_count"),
    ]
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    ("patient", "code"),
    [
        ([], "search-required-parameter"),
        ([PATIENT, PATIENT], "search-required-parameter"),
        ([("patient.identifier", f"urn:oid:1.2.250.1.213.1.4.10|{BODY}00")], "ins-key-mismatch"),
        ([("patient.identifier", f"urn:oid:1.2.250.1.213.1.4.10|{BODY}")], "ins-malformed"),
        ([("patient.identifier", f"urn:oid:1.2.250.1.213.1.4.8|{INS}")], "ins-oid-not-allowed"),
        ([("patient.identifier", INS)], "ins-oid-not-allowed"),
    ],
)
def test_the_patient_is_checked_like_an_ins_in_a_submission(patient: list[tuple[str, str]], code: str) -> None:
    limits = SearchLimits(frozenset({"1.2.250.1.213.1.4.10"}))
    with pytest.raises(RequestError) as caught:
        parse_search([*patient, ("status", "current")], limits)
    assert _codes(caught) == [(code, "patient.identifier")]


def test_unknown_parameters_strict_refused_lenient_warned_and_not_echoed() -> None:
    params = [PATIENT, ("status", "current"), ("_sort", "date"), ("author.given", "X")]
    with pytest.raises(RequestError) as caught:
        parse_search(params, LIMITS, strict=True)
    assert _codes(caught) == [("search-parameter-unknown", "_sort"), ("search-parameter-unknown", "author.given")]
    lenient = parse_search(params, LIMITS)
    assert [(w.problem.spec.code, w.effective_severity) for w in lenient.warnings] == [
        ("search-parameter-unknown", "warning"),
        ("search-parameter-unknown", "warning"),
    ]
    assert [n for n, _ in lenient.echoed] == ["patient.identifier", "status"]


@pytest.mark.parametrize(
    ("prefer", "strict"),
    [
        ("handling=strict", True),
        ("return=minimal, handling=strict", True),
        ('handling="strict"', True),
        ("handling=lenient", False),
        ("respond-async", False),
        (None, False),
    ],
)
def test_prefer_handling(prefer: str | None, strict: bool) -> None:
    assert strict_handling(prefer) is strict


def test_a_page_size_above_the_limit_is_served_at_the_limit_with_a_warning() -> None:
    search = parse_search([PATIENT, ("status", "current"), ("_count", "500")], LIMITS)
    assert search.count == 100
    assert [(w.problem.spec.code, w.effective_severity) for w in search.warnings] == [
        ("search-invalid-parameter", "warning")
    ]
