"""Health for load balancers and orchestrators (public: no credentials, nothing personal in the answers).

``/health/live``: the process answers (never touches the store or the DMP). ``/health/ready``: 200, or 503 with
the reasons (``facade.readiness``). ``/health``: the operator's summary (certificates, outbox counts), as before.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from facade.runtime import Runtime

health_router = APIRouter()


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@health_router.get("/health")
async def health(request: Request) -> JSONResponse:
    rt = _runtime(request)
    return JSONResponse(await run_in_threadpool(rt.health))


@health_router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@health_router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    readiness = await run_in_threadpool(_runtime(request).readiness)
    return JSONResponse(readiness.body(), status_code=200 if readiness.ready else 503)
