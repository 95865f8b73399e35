"""Deny by default: every HTTP request must authenticate, except a short list of public paths.

A pure ASGI middleware (not a route dependency), so a route added later is protected without anyone remembering to
protect it, and unknown paths answer 401 before 404 (no route discovery without credentials). Refusals are
OperationOutcomes written with ``facade.outcomes``, the one translation point (this layer sits below the API).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from facade.auth.actor import DEVELOPMENT_ACTOR, Actor, AuthenticationError
from facade.auth.bearer import BearerVerifier
from facade.auth.certificate import ClientCertificatePolicy
from facade.errors import Problem
from facade.logs.context import current_request
from facade.outcomes import FHIR_JSON, operation_outcome

# FHIR convention: the CapabilityStatement is readable without credentials; /health* for load balancers.
PUBLIC_PATHS = frozenset({"/fhir/metadata", "/health", "/health/live", "/health/ready"})
TLS_EXTENSION = "tls"  # asgiref TLS extension key (facade.tls_server)

log = logging.getLogger("facade.auth")


class Authenticator(Protocol):
    def authenticate(self, scope: Scope) -> Actor:
        """Return the actor, or raise AuthenticationError (401/403)."""
        ...


class DevelopmentAuthenticator:
    """environment=development with auth.mode=none only (Settings refuses it in production)."""

    def authenticate(self, scope: Scope) -> Actor:
        return DEVELOPMENT_ACTOR


class CertificateAuthenticator:
    def __init__(self, policy: ClientCertificatePolicy) -> None:
        self.policy = policy

    def authenticate(self, scope: Scope) -> Actor:
        extensions: Mapping[str, Any] = scope.get("extensions") or {}
        return self.policy.authenticate(extensions.get(TLS_EXTENSION))


class BearerAuthenticator:
    def __init__(self, verifier: BearerVerifier) -> None:
        self.verifier = verifier

    def authenticate(self, scope: Scope) -> Actor:
        values = [v for k, v in scope.get("headers") or () if k.lower() == b"authorization"]
        if len(values) != 1:
            reason = "no bearer token" if not values else "several Authorization headers"
            raise AuthenticationError(Problem.AUTH_REQUIRED, challenge=self.verifier.challenge(), reason=reason)
        try:
            scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            scheme, token = "", ""
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                Problem.AUTH_REQUIRED, challenge=self.verifier.challenge(), reason="the Bearer scheme is required"
            )
        return self.verifier.verify(token.strip())


class AuthMiddleware:
    def __init__(
        self, app: ASGIApp, *, authenticator: Authenticator, public_paths: frozenset[str] = PUBLIC_PATHS
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if scope["type"] == "http" and scope.get("path") in self.public_paths:
            state["actor"] = None
            await self.app(scope, receive, send)
            return
        try:
            actor = self.authenticator.authenticate(scope)
        except AuthenticationError as exc:
            log.info("authentication refused: %s", exc.problem.spec.code, extra={"status": exc.http_status})
            if scope["type"] != "http":
                return  # websocket: closing without accepting is a 403 at the handshake
            headers = {"WWW-Authenticate": exc.challenge} if exc.challenge else None
            refusal = JSONResponse(
                operation_outcome(exc.issues), status_code=exc.http_status, media_type=FHIR_JSON, headers=headers
            )
            await refusal(scope, receive, send)
            return
        state["actor"] = actor
        ctx = current_request()
        if ctx is not None:
            ctx.actor = str(actor)
        await self.app(scope, receive, send)
