"""Thin FHIR endpoints under [base] = /fhir: each takes its dependencies (facade.api.deps), calls one service and
answers with a representation (facade.api.representations). Errors are answered by facade.api.outcomes."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from facade.api.body import read_fhir_body, read_limited_body
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
    TraceparentDep,
)
from facade.api.openapi import ERRORS, FHIR_JSON, SUBMISSION_ERRORS, FhirJsonResponse, fhir_body
from facade.api.outcomes import outcome_response
from facade.api.params import AuditSearchDep
from facade.api.patient import binary_resource, patient_searchset, wants_binary_resource
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
from facade.dmp.ins_param import parse_ins_parameter, unknown_parameters
from facade.dmp.patch import FHIR_JSON as FHIR_PATCH
from facade.dmp.patch import JSON_PATCH
from facade.dmp.search import searchset_bundle
from facade.dmp.search_params import SearchLimits, parse_search, strict_handling
from facade.dmp.target import conditional_target, id_target, patient_cx
from facade.dmp.update import PatchTarget
from facade.errors import FacadeError, Issue, Problem
from facade.fhir.request_body import RequestBody
from facade.runtime import Runtime
from facade.settings import InputConfig
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
    body = RequestBody(await read_fhir_body(request, limits))  # emptied by the parser
    conversion = await run_in_threadpool(converter.convert, body, full=(validate == "full"))
    return _fhir(preview_parameters(conversion))


async def _submit(
    request: Request,
    service: SubmissionsDep,
    limits: InputLimitsDep,
    options: SubmitOptionsDep,
    client: ClientDep,
    request_id: RequestIdDep,
    traceparent: TraceparentDep,
) -> SubmissionResult:
    """The submission shared by ITI-65 and ITI-105 (each words its answer): 501 without a DMP, 415/413/408 from the
    body, then the service."""
    body = RequestBody(await read_fhir_body(request, limits))
    return await run_in_threadpool(
        _accept_then_attempt,
        service,
        body,
        actor=client,
        idempotency_key=options.idempotency_key,
        respond_async=options.respond_async,
        request_id=request_id,
        traceparent=traceparent,
    )


def _accept_then_attempt(
    service: SubmissionService, body: RequestBody, *, actor: str, idempotency_key: str | None,
    respond_async: bool, request_id: str | None, traceparent: str | None,
) -> SubmissionResult:  # fmt: skip
    """Both steps in one thread hop. The parser takes the bytes out of ``body`` and drops them once decoded: a
    large request is not kept through its conversion, nor while it is sent."""
    accepted = service.accept(
        body, actor=actor, idempotency_key=idempotency_key, respond_async=respond_async,
        request_id=request_id, traceparent=traceparent,
    )  # fmt: skip
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


@router.get("/DocumentReference")
async def search_documents(request: Request, rt: RuntimeDep, base_url: BaseUrlDep) -> JSONResponse:
    """TD3.1 (PDSm ITI-67 -> ITI-18): the patient's documents in the DMP as a searchset; ``Prefer: handling=strict``
    refuses unknown parameters (lenient: ignored with a warning); ``_count`` / the next link page it."""
    limits = SearchLimits(rt.settings.input.accepted_ins_oids())
    strict = strict_handling(request.headers.get("prefer"))
    search = parse_search(list(request.query_params.multi_items()), limits, strict=strict)
    page = await run_in_threadpool(rt.document_search().search, search)
    return _fhir(searchset_bundle(page, base_url))


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


# --- document lifecycle (PDSm PATCH -> ITI-57, pdsm4dmp §3.1 TD3.3a-d) ---

_PATCH_TYPES = {JSON_PATCH: JSON_PATCH, FHIR_PATCH: FHIR_PATCH, "application/json+fhir": FHIR_PATCH}


async def _patch(
    request: Request, rt: Runtime, limits: InputConfig, client: str, target: PatchTarget, base_url: str
) -> JSONResponse:
    """415 before the body is read, 501 without a DMP, then the updater (facade/dmp/update.py)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in (*_PATCH_TYPES, "application/json"):
        accepted = f"{JSON_PATCH} (JSON Patch) or {FHIR_PATCH} (FHIRPath Patch Parameters)"
        raise FacadeError(Problem.UNSUPPORTED_MEDIA_TYPE, content_type=media or "(absent)", accepted=accepted)
    body = await read_limited_body(request, limits.max_body_bytes, limits.body_timeout_seconds)
    content_type = _PATCH_TYPES.get(media) or (JSON_PATCH if body.lstrip()[:1] == b"[" else FHIR_PATCH)
    if_match = request.headers.get("if-match")
    if if_match:  # W/"2" or "2": the version the client read
        target = replace(target, if_match=if_match.strip().removeprefix("W/").strip('"'))
    updater = rt.document_updater()
    outcome = await run_in_threadpool(updater.patch, target, body, content_type, actor=client)
    resource = outcome.resource(base_url)
    return _fhir(resource, headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'})


def _patient(request: Request, rt: Runtime) -> str | None:
    return patient_cx(request.query_params.getlist("patient.identifier"), rt.settings.input.accepted_ins_oids())


@router.patch("/DocumentReference/{document_id}", openapi_extra=fhir_body("Parameters"))
async def patch_document(
    document_id: str, request: Request, rt: RuntimeDep, limits: InputLimitsDep, client: ClientDep, base_url: BaseUrlDep
) -> JSONResponse:
    """TD3.3a-d on ``DocumentReference/<id>``: mask / visibility (securityLabel), archive (pdsm-ext-is-archived),
    delete (status entered-in-error); 200 with the DocumentReference as the DMP now holds it."""
    target = id_target(document_id, _patient(request, rt))
    return await _patch(request, rt, limits, client, target, base_url)


@router.patch("/DocumentReference", openapi_extra=fhir_body("Parameters"))
async def patch_document_conditional(
    request: Request, rt: RuntimeDep, limits: InputLimitsDep, client: ClientDep, base_url: BaseUrlDep
) -> JSONResponse:
    """The conditional form PDSm-for-DMP uses: ``PATCH [base]/DocumentReference?identifier=urn:ietf:rfc:3986|
    urn:oid:<uniqueId>`` (``patient.identifier`` too for a document the facade never sent)."""
    identifiers = request.query_params.getlist("identifier")
    target = conditional_target(identifiers, _patient(request, rt))
    return await _patch(request, rt, limits, client, target, base_url)


@router.delete("/DocumentReference/{document_id}")
@router.delete("/DocumentReference")
async def delete_document() -> JSONResponse:
    """The DMP has no physical delete: 405 naming the PATCH that deletes (pdsm4dmp §3.3 item 1)."""
    return outcome_response(405, [Issue(Problem.DELETE_USE_PATCH)], headers={"Allow": "GET, PATCH"})


def _strict(prefer: str | None) -> bool:
    """``Prefer: handling=strict`` refuses unknown search parameters; lenient (the default) ignores them, saying so."""
    return "handling=strict" in (prefer or "").replace(" ", "").lower()


@router.get("/Patient")
async def patient_dmp_status(
    request: Request, rt: RuntimeDep, base_url: BaseUrlDep, prefer: Annotated[str | None, Header()] = None
) -> JSONResponse:
    """TD0.2: does the patient (identifier = the INS) have a DMP, open or closed, and what does it say."""
    params = request.query_params
    warnings = unknown_parameters(list(params.keys()), frozenset({"identifier", "_format"}), strict=_strict(prefer))
    query = parse_ins_parameter(
        params.getlist("identifier"), name="identifier", accepted=rt.settings.input.accepted_ins_oids(),
        missing=Problem.DMP_STATUS_IDENTIFIER_REQUIRED, expression="Patient.identifier",
    )  # fmt: skip
    status = await run_in_threadpool(rt.patient_status().status, query.ins, query.oid)
    base = rt.settings.dmp.status_extension_base
    return _fhir(patient_searchset(status, query, base_url, extension_base=base, warnings=warnings))


@router.get("/Binary/{unique_id}")
async def read_dmp_document(
    unique_id: str, request: Request, rt: RuntimeDep, accept: Annotated[str | None, Header()] = None
) -> Response:
    """TD3.2: the document ``unique_id`` of the patient (patient.identifier), read from the DMP with ITI-43: its own
    bytes, or a Binary when the client accepts FHIR JSON."""
    query = parse_ins_parameter(
        request.query_params.getlist("patient.identifier"), name="patient.identifier",
        accepted=rt.settings.input.accepted_ins_oids(), missing=Problem.BINARY_PATIENT_REQUIRED,
        expression="Binary",
    )  # fmt: skip
    document = await run_in_threadpool(rt.retrieval().retrieve, unique_id, query.ins, query.oid)
    if wants_binary_resource(accept):
        return _fhir(binary_resource(document))
    return Response(document.data, media_type=document.mime_type)
