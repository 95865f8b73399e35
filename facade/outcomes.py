"""The one translation of our Problems and Issues into FHIR OperationOutcome, free of any web framework.

``facade.api`` answers with it, the CLI prints it, the auth middleware refuses with it. ``issues_from_outcome`` is
the way back, only for submission records stored by versions that kept a rendered OperationOutcome (the outbox now
stores the domain issues, ``facade.outbox.record``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from facade.errors import PROBLEM_SYSTEM, Issue, Problem

FHIR_JSON = "application/fhir+json"

_BY_CODE = {problem.spec.code: problem for problem in Problem}


def problem_for_code(code: str) -> Problem | None:
    """The catalogue member with this stable code (None for a code this version does not know)."""
    return _BY_CODE.get(code)


def issue_to_fhir(issue: Issue) -> dict[str, Any]:
    spec = issue.problem.spec
    codings = [{"system": PROBLEM_SYSTEM, "code": spec.code}]
    codings += [{"system": system, "code": code} for system, code in issue.codings]
    out: dict[str, Any] = {
        "severity": issue.effective_severity,
        "code": spec.issue_type,
        "details": {"coding": codings, "text": issue.message},
    }
    if issue.diagnostics:
        out["diagnostics"] = issue.diagnostics
    if issue.expression:
        out["expression"] = [issue.expression]
    return out


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    fhir_issues = [issue_to_fhir(i) for i in issues]
    if not fhir_issues:  # an OperationOutcome needs at least one issue
        fhir_issues = [issue_to_fhir(Issue(Problem.INFORMATION, details={"text": "All OK"}))]
    return {"resourceType": "OperationOutcome", "issue": fhir_issues}


def issues_from_outcome(outcome: Mapping[str, Any]) -> list[Issue]:
    """An OperationOutcome written by ``operation_outcome`` back to its Issues (rendering them again gives the same
    JSON). A problem code this version does not know reads as ``information`` with its text kept."""
    issues: list[Issue] = []
    for item in outcome.get("issue") or ():
        details = item.get("details") or {}
        codings = [(str(c.get("system", "")), str(c.get("code", ""))) for c in details.get("coding") or ()]
        ours = next((code for system, code in codings if system == PROBLEM_SYSTEM), "")
        expression = item.get("expression") or [None]
        issues.append(
            Issue(
                problem_for_code(ours) or Problem.INFORMATION,
                expression[0],
                severity=item.get("severity"),
                codings=tuple(c for c in codings if c[0] != PROBLEM_SYSTEM),
                diagnostics=item.get("diagnostics"),
                text=str(details.get("text", "")),
            )
        )
    return issues
