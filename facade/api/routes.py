"""Thin FHIR endpoints under [base] = /fhir. Work happens in facade.pipeline; errors are answered by api.outcomes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from facade.api.body import check_content_type, read_limited_body
from facade.api.capability import capability_statement, preview_operation_definition
from facade.api.outcomes import FHIR_JSON, operation_outcome
from facade.api.representations import audit_event, preview_parameters, searchset, submission_task
from facade.errors import FacadeError, Issue, Problem
from facade.runtime import Runtime

router = APIRouter(prefix="/fhir")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


@router.get("/metadata")
async def metadata(request: Request) -> JSONResponse:
    rt = _runtime(request)
    return _fhir(capability_statement(rt.base_url(request), date=rt.started_at, send_enabled=rt.send_enabled))


@router.get("/OperationDefinition/preview")
async def operation_definition() -> JSONResponse:
    return _fhir(preview_operation_definition())


@router.post("/Bundle/$preview")
@router.post("/DocumentReference/$preview")
async def preview(
    request: Request, validate: Literal["xsd", "full"] = Query("xsd", description="xsd (default) or full")
) -> JSONResponse:
    rt = _runtime(request)
    check_content_type(request)
    body = await read_limited_body(request, rt.settings.input.max_body_bytes, rt.settings.input.body_timeout_seconds)
    conversion = await run_in_threadpool(rt.converter.convert, body, full=(validate == "full"))
    return _fhir(preview_parameters(conversion))


def _actor(request: Request) -> str:
    return str(getattr(request.state, "actor", None) or "anonymous")  # facade.auth sets an Actor


def _may_audit(request: Request) -> bool:
    """Audit trail and other clients' submissions: development mode, the audit scope, or an allowed subject."""
    actor = getattr(request.state, "actor", None)
    if actor is None or actor.method == "none":
        return True
    auth = _runtime(request).settings.auth
    return auth.audit_scope in actor.scopes or actor.id in auth.audit_subjects


def _submit_headers(request: Request) -> tuple[str | None, bool]:
    key = request.headers.get("idempotency-key")
    prefer = request.headers.get("prefer", "").lower()
    return key, "respond-async" in prefer


@router.post("")
@router.post("/")
@router.post("/DocumentReference")
async def submit(request: Request) -> JSONResponse:
    """ITI-65 transaction (POST [base]) or ITI-105 simplified publish (POST [base]/DocumentReference) -> ITI-41."""
    rt = _runtime(request)
    service = rt.submissions(rt.base_url(request))
    check_content_type(request)
    body = await read_limited_body(request, rt.settings.input.max_body_bytes, rt.settings.input.body_timeout_seconds)
    key, respond_async = _submit_headers(request)
    answer = await run_in_threadpool(
        service.submit,
        body,
        actor=_actor(request),
        idempotency_key=key,
        respond_async=respond_async,
        request_id=getattr(request.state, "request_id", None),
    )
    if request.url.path.rstrip("/").endswith("/DocumentReference") and answer.status == 200:
        # ITI-105 is a FHIR create: 201 + Location of the DocumentReference (its XDS uniqueId), not a bundle
        created = answer.body["entry"][0]["response"]["location"]
        headers = {**answer.headers, "Location": f"{rt.base_url(request)}/{created}"}
        text = f"Created {created}: delivered to the DMP"
        return _fhir(operation_outcome([Issue(Problem.INFORMATION, details={"text": text})]), 201, headers)
    return _fhir(answer.body, answer.status, answer.headers)


@router.get("/Task/{submission_id}")
async def submission_status(request: Request, submission_id: str) -> JSONResponse:
    rt = _runtime(request)
    service = rt.submissions(rt.base_url(request))
    record = await run_in_threadpool(service.outbox.get, submission_id)
    if record is None or not (record.actor == _actor(request) or _may_audit(request)):
        # another client's submission is as invisible as a missing one
        raise FacadeError(Problem.NOT_FOUND, text=f"no submission {submission_id}")
    return _fhir(submission_task(record, service.answer(record)))


@router.get("/AuditEvent")
async def audit_search(
    request: Request,
    entity: Annotated[str | None, Query(description="submission id (the Task id)")] = None,
    date: Annotated[list[str] | None, Query(description="ge<instant> and/or le<instant>")] = None,
) -> JSONResponse:
    """The audit trail of submissions: who, which patient (keyed hash), which documents, outcome, when."""
    rt = _runtime(request)
    if not _may_audit(request):
        raise FacadeError(
            Problem.FORBIDDEN, text=f"reading the audit trail needs the scope {rt.settings.auth.audit_scope}"
        )
    outbox = rt.submissions(rt.base_url(request)).outbox
    if entity:
        entries = await run_in_threadpool(outbox.audit_for_submission, entity)
    else:
        start, end = _date_range(date or [])
        entries = await run_in_threadpool(outbox.audit_between, start, end)
    return _fhir(searchset([audit_event(e) for e in entries]))


def _date_range(values: list[str]) -> tuple[datetime, datetime]:
    start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
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
