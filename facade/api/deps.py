"""What the routes need, as FastAPI dependencies (``Annotated`` aliases, as in full-stack-fastapi-template's
``api/deps.py``): the runtime, the services, who is calling and what they may do. Routes take these and call one
service; they hold no decisions of their own.

The dependencies that only read the request or the settings are ``async def``: FastAPI runs a plain ``def`` dependency
in the thread pool, one hand-off (and GIL round trip) each, eight per submission before. The two that may build a
service on first use (``get_converter``, ``get_submissions``) stay in the pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from facade.auth import Actor, may_audit
from facade.errors import FacadeError, Problem
from facade.logs import RequestContext, current_request
from facade.pipeline import Converter
from facade.runtime import Runtime
from facade.settings import InputConfig
from facade.submissions import SubmissionService


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_base_url(request: Request, runtime: RuntimeDep) -> str:
    """The public [base] of the FHIR endpoint: settings.base_url, else this request's own base + /fhir once its Host
    is one of settings.allowed_hosts. A Host header is the client's word:
    reflected unchecked into Location / Content-Location / the CapabilityStatement it would let anyone point clients
    at another server."""
    settings = runtime.settings
    if settings.base_url:
        return settings.base_url
    host = request.url.hostname or ""
    allowed = settings.allowed_hosts
    if host.strip("[]").lower() not in {h.strip("[]").lower() for h in allowed}:
        raise FacadeError(Problem.HOST_NOT_ALLOWED, host=host or "(none)", allowed=", ".join(allowed) or "none")
    return str(request.base_url).rstrip("/") + "/fhir"


BaseUrlDep = Annotated[str, Depends(get_base_url)]


async def get_input_limits(runtime: RuntimeDep) -> InputConfig:
    return runtime.settings.input  # body size and time limits


InputLimitsDep = Annotated[InputConfig, Depends(get_input_limits)]


def get_converter(runtime: RuntimeDep) -> Converter:
    return runtime.converter


ConverterDep = Annotated[Converter, Depends(get_converter)]


def get_submissions(runtime: RuntimeDep) -> SubmissionService:
    return runtime.submissions()  # 501 when no DMP repository is configured


SubmissionsDep = Annotated[SubmissionService, Depends(get_submissions)]


async def get_actor(request: Request) -> Actor | None:
    actor: Actor | None = getattr(request.state, "actor", None)  # set by facade.auth.AuthMiddleware
    return actor


ActorDep = Annotated[Actor | None, Depends(get_actor)]


async def get_client_name(actor: ActorDep) -> str:
    """The caller as the outbox and the audit trail record it (``method:id``)."""
    return str(actor or "anonymous")


ClientDep = Annotated[str, Depends(get_client_name)]


async def get_request_context() -> RequestContext | None:
    return current_request()  # bound by facade.logs' middleware for the whole request (a ContextVar)


async def get_request_id(context: Annotated[RequestContext | None, Depends(get_request_context)]) -> str | None:
    return context.request_id if context else None


RequestIdDep = Annotated[str | None, Depends(get_request_id)]


async def get_traceparent(context: Annotated[RequestContext | None, Depends(get_request_context)]) -> str | None:
    """This request's own span (W3C traceparent): the caller's trace id, a new span id."""
    return context.traceparent if context else None


TraceparentDep = Annotated[str | None, Depends(get_traceparent)]


async def can_audit(runtime: RuntimeDep, actor: ActorDep) -> bool:
    auth = runtime.settings.auth
    return may_audit(actor, audit_scope=auth.audit_scope, audit_subjects=auth.audit_subjects)


CanAuditDep = Annotated[bool, Depends(can_audit)]


async def require_auditor(runtime: RuntimeDep, allowed: CanAuditDep) -> None:
    if not allowed:
        raise FacadeError(
            Problem.FORBIDDEN, text=f"reading the audit trail needs the scope {runtime.settings.auth.audit_scope}"
        )


AuditorDep = Annotated[None, Depends(require_auditor)]


@dataclass(frozen=True)
class SubmitOptions:
    idempotency_key: str | None  # the client's Idempotency-Key: a retry with the same key and body is a replay
    respond_async: bool  # Prefer: respond-async -> 202 at once, delivery in the background


async def get_submit_options(
    idempotency_key: Annotated[str | None, Header()] = None, prefer: Annotated[str | None, Header()] = None
) -> SubmitOptions:
    return SubmitOptions(idempotency_key or None, "respond-async" in (prefer or "").lower())


SubmitOptionsDep = Annotated[SubmitOptions, Depends(get_submit_options)]
