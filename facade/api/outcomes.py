"""The one place where facade errors become FHIR OperationOutcome bodies and HTTP statuses.

Routes never build error bodies: they raise FacadeError (or return issues) and the handlers here answer.
Every error, including 404/405/415 and unexpected ones, is an OperationOutcome (never HTML, never empty).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facade.errors import PROBLEM_SYSTEM, FacadeError, Issue, Problem

FHIR_JSON = "application/fhir+json"
log = logging.getLogger("facade.api")


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


def outcome_response(status: int, issues: Iterable[Issue], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(operation_outcome(issues), status_code=status, media_type=FHIR_JSON, headers=headers)


def _simple(problem: Problem, status: int | None = None, **details: Any) -> JSONResponse:
    issue = Issue(problem, details=details)
    return outcome_response(status or problem.spec.http_status, [issue])


async def _on_facade_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FacadeError)
    if exc.http_status >= 500:
        log.error("request failed: %s", exc.problem.spec.code)
    return outcome_response(exc.http_status, exc.issues)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue(Problem.FHIR_STRUCTURE, ".".join(str(p) for p in err.get("loc", ())[1:]) or None, {"reason": err["msg"]})
        for err in exc.errors()
    ]
    return outcome_response(400, issues)


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = {404: Problem.NOT_FOUND, 405: Problem.METHOD_NOT_ALLOWED}.get(exc.status_code, Problem.INFORMATION)
    return outcome_response(exc.status_code, [Issue(problem, details={"text": str(exc.detail)})])


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Never leak internals (they may hold patient data); the id correlates with the log line.
    log.exception("unexpected error")
    return _simple(Problem.INTERNAL, 500, kind=type(exc).__name__)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FacadeError, _on_facade_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
