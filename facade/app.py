"""The FastAPI application: routers, exception handlers, components built once from Settings."""

from __future__ import annotations

from fastapi import FastAPI

from facade import __version__
from facade.api.outcomes import install_handlers
from facade.api.routes import router
from facade.runtime import Runtime
from facade.settings import Settings, get_settings


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime(settings or get_settings())
    app = FastAPI(
        title="DMP facade",
        version=__version__,
        docs_url="/_docs",  # keep /docs free; FHIR paths live under /fhir
        redoc_url=None,
        openapi_url="/_openapi.json",
    )
    app.state.runtime = runtime
    install_handlers(app)
    app.include_router(router)
    return app
