"""The FastAPI application: routers, exception handlers, components built once from Settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from facade import __version__
from facade.api.budget import InFlightBudgetMiddleware
from facade.api.health import health_router
from facade.api.infocentre import infocentre_router
from facade.api.metrics import metrics_router
from facade.api.outcomes import install_handlers
from facade.api.routes import router
from facade.auth import (
    Authenticator,
    AuthMiddleware,
    BearerAuthenticator,
    BearerPolicy,
    BearerVerifier,
    CertificateAuthenticator,
    ClientCertificatePolicy,
    DevelopmentAuthenticator,
    KeySet,
)
from facade.logs import RequestContextMiddleware, configure_logging
from facade.runtime import Runtime
from facade.settings import Settings, get_settings
from facade.tls_server import server_config as uvicorn_server_config


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Certificates are checked before the first request (refuse to start, clearly); the relay resumes any
        # submission left pending or failed by a previous run.
        await run_in_threadpool(runtime.start)
        try:
            yield
        finally:
            await run_in_threadpool(runtime.stop)

    app = FastAPI(
        lifespan=lifespan,
        title="DMP facade",
        version=__version__,
        docs_url="/_docs",  # keep /docs free; FHIR paths live under /fhir
        swagger_ui_oauth2_redirect_url="/_docs/oauth2-redirect",  # with the docs, not at FastAPI's /docs default
        redoc_url=None,
        openapi_url="/_openapi.json",
        redirect_slashes=False,  # a redirect would be built from the Host header; /fhir/Task/x/ is simply not found
    )
    app.state.runtime = runtime
    install_handlers(app)
    app.include_router(router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(infocentre_router)
    # front door: the request context (id, access line) is outermost, so refusals are logged with their id too
    limits = runtime.settings.input  # the budget sits inside authentication: anonymous bodies never count
    app.add_middleware(InFlightBudgetMiddleware, limit=limits.max_bytes_in_flight, max_body_bytes=limits.max_body_bytes)
    app.add_middleware(AuthMiddleware, authenticator=build_authenticator(runtime.settings))
    app.add_middleware(
        RequestContextMiddleware,
        access_log=runtime.settings.logging.access_log,
        trust_request_id=runtime.settings.logging.trust_request_id,
    )
    return app


def build_authenticator(settings: Settings) -> Authenticator:
    """Settings -> the authenticator (Settings has already refused an incomplete or unsafe auth configuration)."""
    auth = settings.auth
    mode = auth.effective_mode(settings.environment)
    if mode == "mtls":
        policy = ClientCertificatePolicy.from_strings(auth.mtls.allowed_subjects, auth.mtls.allowed_ous)
        return CertificateAuthenticator(policy)
    if mode == "oauth2":
        o = auth.oauth2
        keys = KeySet.from_jwks_file(o.jwks_file) if o.jwks_file else KeySet.from_pem_files(o.public_keys)
        bearer = BearerPolicy(
            issuer=o.issuer,
            audience=o.audience,
            required_scopes=frozenset(o.required_scopes),
            algorithms=tuple(o.algorithms),
            leeway=timedelta(seconds=o.leeway_seconds),
        )
        return BearerAuthenticator(BearerVerifier(bearer, keys))
    logging.getLogger("facade.auth").warning("authentication is OFF (environment=development, auth.mode=none)")
    return DevelopmentAuthenticator()


def server_config(settings: Settings, app: Any, *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn Config that serves ``app`` as settings say: logging configured (JSON lines, redacted), HTTPS when
    a server certificate is set, client certificates required in mtls mode. ``facade serve`` runs
    ``uvicorn.Server(server_config(settings, create_app(settings), host=..., port=...)).run()``."""
    configure_logging(level=settings.logging.level, fmt=settings.logging.format)
    auth = settings.auth
    mtls = auth.effective_mode(settings.environment) == "mtls"
    password = auth.server_key_password.get_secret_value() if auth.server_key_password else None
    return uvicorn_server_config(
        app,
        host=host,
        port=port,
        server_cert=auth.server_cert,
        server_key=auth.server_key,
        client_ca=auth.mtls.client_ca if mtls else None,
        server_key_password=password,
        allow_tls13=auth.allow_tls13,
        log_level=settings.logging.level.lower(),
        header_timeout=settings.input.header_timeout_seconds,
        timeout_keep_alive=settings.input.keep_alive_seconds,
        limit_concurrency=settings.input.max_connections,
        log_config=None,  # keep configure_logging's handler: uvicorn's default config would replace it
    )
