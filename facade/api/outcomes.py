"""The exception handlers: every error becomes an HTTP answer whose body is an OperationOutcome.

Routes never build error bodies: they raise FacadeError and the handlers here answer, with the one translation of
``facade.outcomes``. Every error, including 404/405/415 and unexpected ones, is an OperationOutcome (never HTML,
never empty).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facade.errors import FacadeError, Issue, Problem
from facade.outcomes import FHIR_JSON, operation_outcome

__all__ = ["FHIR_JSON", "install_handlers", "operation_outcome", "outcome_response"]
log = logging.getLogger("facade.api")


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
