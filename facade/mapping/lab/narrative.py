"""The human-readable side of a lab report: value and range texts (the narrative table uses the same wording, see
``templates/cda/cr-bio/lab.xml.j2``) and the text of the generated PDF copy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from facade.model.document import Organization
from facade.model.lab import (
    CodedValue,
    LabBattery,
    LabObservation,
    LabReport,
    LabResult,
    LabValue,
    NullValue,
    PhysicalQuantity,
    RatioValue,
    ReferenceRange,
    TextValue,
)


def value_text(value: LabValue | None) -> str:
    """Human-readable value, as the narrative table and the generated PDF show it."""
    if value is None:
        return ""
    if isinstance(value, PhysicalQuantity):
        return value.value if value.unit == "1" else f"{value.value} {value.unit}"
    if isinstance(value, CodedValue):
        return value.text or (value.code.display if value.code else "")
    if isinstance(value, TextValue | NullValue):
        return value.text
    if isinstance(value, RatioValue):
        return f"{value_text(value.numerator)} / {value_text(value.denominator)}"
    low = value_text(value.low) if value.low else ""
    high = value_text(value.high) if value.high else ""
    if value.low and not value.high:
        return f"{'>=' if value.low_inclusive else '>'} {low}"
    if value.high and not value.low:
        return f"{'<=' if value.high_inclusive else '<'} {high}"
    return f"{low} - {high}"


def range_text(rr: ReferenceRange | None) -> str:
    if rr is None:
        return ""
    if rr.low is not None or rr.high is not None:
        bounds = f"{value_text(rr.low) if rr.low else ''} - {value_text(rr.high) if rr.high else ''}".strip()
        return f"({bounds})" + (f" {rr.text}" if rr.text else "")
    return rr.text or ""


def _result_lines(result: LabResult, indent: str) -> list[str]:
    if isinstance(result, LabObservation):
        line = f"{indent}{result.label} : {value_text(result.value)}"
        if result.interpretations:
            line += " [" + ", ".join(c.display for c in result.interpretations) + "]"
        if result.reference_range is not None:
            line += " " + range_text(result.reference_range)
        return [line] + [f"{indent}  Note : {n}" for n in result.notes]
    head = f"{indent}{result.label}" if isinstance(result, LabBattery) else f"{indent}Isolat : {result.label}"
    return [head] + [line for m in result.members for line in _result_lines(m, indent + "  ")]


def report_lines(report: LabReport, lab: Organization) -> list[str]:
    """The text of the generated PDF copy: lab, chapters, results, conclusion."""
    lines = [
        f"Laboratoire : {lab.name}",
        f"Biologiste responsable : {' '.join(report.responsible.person.given)} "
        f"{report.responsible.person.family}".rstrip(),
    ]
    for chapter in report.chapters:
        lines += ["", chapter.title.upper()]
        for sub in chapter.sub_chapters:
            if sub.code.code != chapter.code.code:
                lines.append(f"  {sub.title}")
            for result in sub.results:
                lines += _result_lines(result, "  ")
    if report.notes:
        lines += ["", "Commentaire :", *report.notes]
    return lines


def iter_results(results: Sequence[LabResult]) -> Iterator[LabObservation]:
    """Every LabObservation under ``results`` (depth first)."""
    for r in results:
        if isinstance(r, LabObservation):
            yield r
        else:
            yield from iter_results(r.members)


__all__ = ["iter_results", "range_text", "report_lines", "value_text"]
