"""Thin FHIR endpoints under [base] = /fhir: each takes its dependencies (facade.api.deps), calls one service and
answers with a representation (facade.api.representations). Errors are answered by facade.api.outcomes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from facade.api.body import read_fhir_body
from facade.api.capability import capability_statement, preview_operation_definition
from facade.api.deps import (
    AuditorDep,
    BaseUrlDep,
    CanAuditDep,
    ClientDep,
    ConverterDep,
    InputLimitsDep,
    RequestIdDep,
    RuntimeDep,
    SubmissionsDep,
    SubmitOptionsDep,
)
from facade.api.openapi import ERRORS, FHIR_JSON, SUBMISSION_ERRORS, FhirJsonResponse, fhir_body
from facade.api.params import AuditSearchDep
from facade.api.representations import (
    Answer,
    audit_event,
    document_reference,
    preview_parameters,
    published_answer,
    searchset,
    submission_answer,
    submission_task,
)
from facade.runtime import Runtime
from facade.submissions import SubmissionResult, SubmissionService

router = APIRouter(prefix="/fhir", default_response_class=FhirJsonResponse, responses=ERRORS)


def _runtime(request: Request) -> Runtime:  # for /health, which keeps its own shape (not a FHIR endpoint)
    runtime: Runtime = request.app.state.runtime
    return runtime


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _answer(answer: Answer) -> JSONResponse:
    return _fhir(answer.body, answer.status, answer.headers)


@router.get("/metadata")
async def metadata(rt: RuntimeDep, base_url: BaseUrlDep) -> JSONResponse:
    return _fhir(capability_statement(base_url, date=rt.started_at, send_enabled=rt.send_enabled))


@router.get("/OperationDefinition/preview")
async def operation_definition() -> JSONResponse:
    return _fhir(preview_operation_definition())


@router.post("/Bundle/$preview", responses=SUBMISSION_ERRORS, openapi_extra=fhir_body("Bundle"))
@router.post("/DocumentReference/$preview", responses=SUBMISSION_ERRORS, openapi_extra=fhir_body("DocumentReference"))
async def preview(
    request: Request,
    limits: InputLimitsDep,
    converter: ConverterDep,
    validate: Literal["xsd", "full"] = Query("xsd", description="xsd (default) or full"),
) -> JSONResponse:
    body = await read_fhir_body(request, limits)
    conversion = await run_in_threadpool(converter.convert, body, full=(validate == "full"))
    return _fhir(preview_parameters(conversion))


async def _submit(
    request: Request,
    service: SubmissionsDep,
    limits: InputLimitsDep,
    options: SubmitOptionsDep,
    client: ClientDep,
    request_id: RequestIdDep,
) -> SubmissionResult:
    """The submission shared by ITI-65 and ITI-105 (each words its answer): 501 without a DMP, 415/413/408 from the
    body, then the service."""
    holder = [await read_fhir_body(request, limits)]
    return await run_in_threadpool(
        _accept_then_attempt,
        service,
        holder,
        actor=client,
        idempotency_key=options.idempotency_key,
        respond_async=options.respond_async,
        request_id=request_id,
    )


def _accept_then_attempt(
    service: SubmissionService, holder: list[bytes], *, actor: str, idempotency_key: str | None,
    respond_async: bool, request_id: str | None,
) -> SubmissionResult:  # fmt: skip
    """Both steps in one thread hop. The body leaves ``holder`` for ``accept`` alone: once the submission is stored
    nothing keeps it, so a large request is not in memory while it is sent."""
    accepted = service.accept(
        holder.pop(), actor=actor, idempotency_key=idempotency_key, respond_async=respond_async, request_id=request_id
    )
    return service.attempt(accepted)


SubmittedDep = Annotated[SubmissionResult, Depends(_submit)]


@router.post("", responses=SUBMISSION_ERRORS, openapi_extra=fhir_body("Bundle"))
@router.post("/", responses=SUBMISSION_ERRORS, openapi_extra=fhir_body("Bundle"))
async def transaction(result: SubmittedDep, base_url: BaseUrlDep) -> JSONResponse:
    """ITI-65 transaction (POST [base]) -> ITI-41: the transaction-response bundle once delivered."""
    return _answer(submission_answer(result, base_url))


@router.post("/DocumentReference", responses=SUBMISSION_ERRORS, openapi_extra=fhir_body("DocumentReference"))
async def publish(result: SubmittedDep, base_url: BaseUrlDep) -> JSONResponse:
    """ITI-105 simplified publish (POST [base]/DocumentReference) -> ITI-41: 201 + Location once delivered."""
    return _answer(published_answer(result, base_url))


@router.get("/Task/{submission_id}")
async def submission_status(
    submission_id: str, service: SubmissionsDep, client: ClientDep, sees_all: CanAuditDep, base_url: BaseUrlDep
) -> JSONResponse:
    result = await run_in_threadpool(service.status, submission_id, actor=client, sees_all=sees_all)
    return _fhir(submission_task(result.record, submission_answer(result, base_url)))


@router.get("/DocumentReference/{document_id}")
async def read_document(
    document_id: str, service: SubmissionsDep, client: ClientDep, sees_all: CanAuditDep, base_url: BaseUrlDep
) -> JSONResponse:
    """A document the facade accepted (its registry): current, superseded once its replacement was delivered."""
    doc = await run_in_threadpool(service.document, document_id, actor=client, sees_all=sees_all)
    return _fhir(document_reference(doc, base_url))


@router.get("/AuditEvent")
async def audit_trail(_: AuditorDep, service: SubmissionsDep, search: AuditSearchDep) -> JSONResponse:
    """The audit trail of submissions: who, which patient (keyed hash), which documents, outcome, when."""
    entries = await run_in_threadpool(service.audit_trail, search.entity, search.period)
    return _fhir(searchset([audit_event(e) for e in entries]))
