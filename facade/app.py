"""The FastAPI application: routers, exception handlers, components built once from Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from facade import __version__
from facade.api.outcomes import install_handlers
from facade.api.routes import health_router, router
from facade.runtime import Runtime
from facade.settings import Settings, get_settings


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
        redoc_url=None,
        openapi_url="/_openapi.json",
    )
    app.state.runtime = runtime
    install_handlers(app)
    app.include_router(router)
    app.include_router(health_router)
    return app
