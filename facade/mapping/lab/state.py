"""What every step of the lab mapping shares: the request's MappingContext (one reference resolver, one
ValidationReport, terminology), the catalogue, and what the mapping has built so far."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facade.errors import Problem, ValidationReport
from facade.fhir.references import Resolved
from facade.mapping.context import MappingContext, parse_fhir_datetime
from facade.model.document import Organization, Patient
from facade.model.lab import Specimen
from facade.terminology.catalogue import Catalogue, ChapterEntry

UnitValidator = Callable[[str], str | None]  # None when the unit is a valid UCUM code, else the reason


@dataclass
class LabState:
    mc: MappingContext
    catalogue: Catalogue
    check_unit: UnitValidator
    category_chapter: ChapterEntry | None = None
    patient: Patient | None = None  # every subject must designate it (same INS)
    lab: Organization | None = None  # the performing lab, once known
    refs: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))
    specimens: dict[str, Specimen] = field(default_factory=dict)  # by FHIRPath of the Specimen
    used: set[int] = field(default_factory=set)  # bundle entries the document is built from
    same_patient: set[str] = field(default_factory=set)  # Patients (FHIRPath) found to carry the document's INS

    @property
    def report(self) -> ValidationReport:
        return self.mc.report

    def ref(self, prefix: str) -> str:
        """A fresh narrative anchor (``res-3``, ``spec-1``)."""
        return f"{prefix}-{next(self.refs)}"

    def use(self, target: Resolved) -> Resolved:
        self.used.add(target.entry.index)
        return target

    def lookup(self, reference: Any, container: Resolved) -> Resolved | None:
        """The resource ``reference`` (written inside ``container``) designates; None, unreported, when none."""
        return self.mc.resolver.resolve(reference, container.entry)

    def target(self, reference: Any, container: Resolved, expression: str, *expected: str) -> Resolved | None:
        """The ``expected`` resource a literal ``reference`` designates (a logical one designates nothing in the
        bundle). Unresolved: error; another resource type: warning (ignored, never silently)."""
        if not (isinstance(reference, dict) and reference.get("reference")):
            return None
        return self.mc.resolve(reference, container.entry, expression, expected=expected, other_types="ignore")

    def performer(self, reference: Any, container: Resolved, expression: str) -> Resolved | None:
        """A performer (lab, biologist, staff): an Organization, Practitioner or PractitionerRole, marked used.
        Performers are read twice (lab and results): an unresolved one is reported once."""
        found = self.lookup(reference, container)
        if found is None:
            if not any(i.expression == expression for i in self.report.issues):
                ref = reference.get("reference") if isinstance(reference, dict) else None
                self.report.add(Problem.UNRESOLVED_REFERENCE, expression=expression, reference=ref or "?")
            return None
        found = self.target(reference, container, expression, "Organization", "Practitioner", "PractitionerRole")
        return self.use(found) if found is not None else None


def aware(value: Any) -> datetime | None:
    """FHIR dateTime/instant -> aware datetime; dates and times without offset are too imprecise for CDA TS."""
    return parse_fhir_datetime(value)


def period_start(period: Any) -> datetime | None:
    return aware(period.get("start")) if isinstance(period, dict) else None


def items(raw: Any, name: str) -> list[Any]:
    """``raw[name]`` as a list of JSON objects (absent -> [])."""
    value = raw.get(name) if isinstance(raw, dict) else None
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


__all__ = ["LabState", "UnitValidator", "aware", "items", "period_start"]
