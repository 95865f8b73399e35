"""FHIR search parameters of our endpoints, parsed into what the services take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query

from facade.errors import FacadeError, Problem

EVERYTHING = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class AuditSearch:
    entity: str | None  # a submission id (the Task id): wins over the period
    period: tuple[datetime, datetime]


def audit_search(
    entity: Annotated[str | None, Query(description="submission id (the Task id)")] = None,
    date: Annotated[list[str] | None, Query(description="ge<instant> and/or le<instant>")] = None,
) -> AuditSearch:
    """GET /AuditEvent parameters; ``date`` is read only when no ``entity`` is given."""
    return AuditSearch(entity, EVERYTHING if entity else date_range(date or []))


AuditSearchDep = Annotated[AuditSearch, Depends(audit_search)]


def date_range(values: list[str]) -> tuple[datetime, datetime]:
    """``date`` search values (``ge``/``gt`` start, ``le``/``lt`` end + an ISO instant, UTC when no offset)."""
    start, end = EVERYTHING
    for value in values:
        prefix, raw = value[:2], value[2:]
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise FacadeError(
                Problem.INVALID_VALUE, element="date", reason=f"{value!r} is not ge/le + an instant"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if prefix in ("ge", "gt"):
            start = when
        elif prefix in ("le", "lt"):
            end = when
        else:
            raise FacadeError(Problem.INVALID_VALUE, element="date", reason=f"{value!r}: use the ge or le prefix")
    return start, end
