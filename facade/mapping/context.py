"""What every translator needs: terminology, policy, reference resolver and the shared ValidationReport.

Translators are pure functions ``to_x(resource, mc) -> model.X | None``: they add issues to ``mc.report`` and
return None when the element cannot be built, so one request yields every problem in one answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from facade.errors import Problem, ValidationReport
from facade.fhir.parse import JsonObject, ParsedEntry
from facade.fhir.references import ReferenceResolver, Resolved
from facade.fhir.validate import InputPolicy
from facade.model.document import BuildContext, Code
from facade.terminology.tables import Terminology, ValueSetName

_ACCEPTED_SHOWN = 25  # longer value sets are summarised in messages (J01 has ~400 codes)


@dataclass
class MappingContext:
    build: BuildContext
    terminology: Terminology
    policy: InputPolicy
    resolver: ReferenceResolver
    report: ValidationReport = field(default_factory=ValidationReport)
    # entry index -> (role, document number) for the transaction-response
    roles: dict[int, tuple[str, int | None]] = field(default_factory=dict)

    def mark(self, target: Resolved | ParsedEntry, role: str, document: int | None = None) -> None:
        """Remember what a bundle entry became (first role wins: a document beats a participant)."""
        entry = target.entry if isinstance(target, Resolved) else target
        self.roles.setdefault(entry.index, (role, document))

    def resolve(
        self,
        reference: Any,
        container: ParsedEntry,
        expression: str,
        *,
        expected: tuple[str, ...],
        other_types: Literal["refuse", "ignore"] = "refuse",
    ) -> Resolved | None:
        """Resolve a Reference; report UNRESOLVED_REFERENCE / a wrong target type at ``expression``. A target of
        another type is an error, or with ``other_types="ignore"`` a warning (an optional link, e.g. a result's
        specimen: the reference is ignored, never silently)."""
        target = self.resolver.resolve(reference, container)
        ref_text = reference.get("reference") if isinstance(reference, dict) else None
        if target is None:
            self.report.add(
                Problem.UNRESOLVED_REFERENCE,
                expression=f"{expression}.reference" if ref_text else expression,
                reference=ref_text or "(no literal reference)",
            )
            return None
        if target.resource_type not in expected:
            reason = f"{ref_text} is a {target.resource_type}; expected {' or '.join(expected)}"
            if other_types == "ignore":
                self.report.warn(
                    Problem.INVALID_VALUE,
                    expression=f"{expression}.reference",
                    element=expression,
                    reason=f"{reason}: ignored",
                )
            else:
                self.report.add(
                    Problem.INVALID_VALUE, expression=f"{expression}.reference", element=expression, reason=reason
                )
            return None
        return target

    # --- codes ---

    def accepted_text(self, vs: ValueSetName) -> str:
        accepted = self.terminology.accepted(vs)
        if len(accepted) <= _ACCEPTED_SHOWN:
            return ", ".join(accepted)
        info = self.terminology.info(vs)
        shown = ", ".join(accepted[:_ACCEPTED_SHOWN])
        return f"{shown} ... ({len(accepted)} codes, value set {info.name} {info.oid})"

    def unknown_code(self, vs: ValueSetName, coding: JsonObject, expression: str, element: str) -> None:
        self.report.add(
            Problem.UNKNOWN_CODE,
            expression=expression,
            element=element,
            system=coding.get("system") or "(no system)",
            code=coding.get("code") or "(no code)",
            value_set=self.terminology.info(vs).name,
            accepted=self.accepted_text(vs),
        )

    def coding(self, vs: ValueSetName, coding: Any, expression: str, element: str) -> Code | None:
        """One Coding looked up in ``vs``; UNKNOWN_CODE when it is not a member."""
        if not isinstance(coding, dict):
            return None
        code = coding.get("code")
        system = coding.get("system")
        found = self.terminology.lookup(vs, code, system) if isinstance(code, str) else None
        if found is None:
            self.unknown_code(vs, coding, expression, element)
        return found

    def codeable(
        self, vs: ValueSetName, concept: Any, expression: str, element: str, *, required: bool = False
    ) -> Code | None:
        """The first coding of a CodeableConcept that is in ``vs``. Codings outside ``vs`` are reported only when
        none is a member (a translation in another system is legitimate)."""
        codings = [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)] if concept else []
        for coding in codings:
            code, system = coding.get("code"), coding.get("system")
            if isinstance(code, str):
                found = self.terminology.lookup(vs, code, system)
                if found is not None:
                    return found
        if codings:
            self.unknown_code(vs, codings[0], f"{expression}.coding[0]", element)
        elif required:
            self.report.add(Problem.MISSING_ELEMENT, expression=expression, element=element)
        return None

    # --- values ---

    def datetime_with_offset(self, value: Any, expression: str, element: str, *, required: bool) -> datetime | None:
        """A FHIR dateTime/instant with time and UTC offset (CDA effectiveTime needs both)."""
        if value is None:
            if required:
                self.report.add(Problem.MISSING_ELEMENT, expression=expression, element=element)
            return None
        parsed = parse_fhir_datetime(value)
        if parsed is None:
            self.report.add(
                Problem.INVALID_VALUE,
                expression=expression,
                element=element,
                reason=f"{value!r} needs a time and a UTC offset (e.g. 2025-06-01T10:00:00+02:00)",
            )
        return parsed


def parse_fhir_datetime(value: Any) -> datetime | None:
    """``2025-06-01T10:00:00+02:00`` / ``...Z`` -> aware datetime; None for partial dates or missing offsets."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def extension(raw: JsonObject, url: str) -> tuple[int, JsonObject] | None:
    """The first extension with this url, with its index."""
    for i, ext in enumerate(raw.get("extension") or []):
        if isinstance(ext, dict) and ext.get("url") == url:
            return i, ext
    return None


__all__ = ["MappingContext", "extension", "parse_fhir_datetime"]
