"""The AuditEvent search parameters (api/params.py) and who may read the audit trail (auth/authorization.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from facade.api.params import EVERYTHING, audit_search, date_range
from facade.auth import DEVELOPMENT_ACTOR, Actor, may_audit
from facade.errors import FacadeError, Problem


def test_date_prefixes_bound_the_period_and_a_naive_instant_is_utc() -> None:
    start, end = date_range(["ge2026-01-01", "lt2026-02-01T12:00:00+01:00"])
    assert start == datetime(2026, 1, 1, tzinfo=UTC)
    assert end == datetime(2026, 2, 1, 11, 0, tzinfo=UTC)
    assert date_range([]) == EVERYTHING


@pytest.mark.parametrize("value", ["eq2026-01-01", "ge2026-13-01", "2026-01-01"])
def test_a_bad_date_value_is_a_422_at_the_date_parameter(value: str) -> None:
    with pytest.raises(FacadeError) as refused:
        date_range([value])
    assert refused.value.problem is Problem.INVALID_VALUE and refused.value.http_status == 422
    assert refused.value.issues[0].details["element"] == "date"


def test_an_entity_search_does_not_read_the_date() -> None:
    search = audit_search(entity="sub-1", date=["nonsense"])
    assert (search.entity, search.period) == ("sub-1", EVERYTHING)


def test_who_may_audit() -> None:
    rules = {"audit_scope": "dmp.audit", "audit_subjects": ["CN=auditor"]}
    assert may_audit(None, **rules) and may_audit(DEVELOPMENT_ACTOR, **rules)  # type: ignore[arg-type]
    assert may_audit(Actor("oauth2", "dpi", scopes=frozenset({"dmp.audit"})), **rules)  # type: ignore[arg-type]
    assert may_audit(Actor("mtls", "CN=auditor"), **rules)  # type: ignore[arg-type]
    assert not may_audit(Actor("oauth2", "dpi", scopes=frozenset({"dmp.feed"})), **rules)  # type: ignore[arg-type]
