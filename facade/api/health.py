"""Health for load balancers and orchestrators (public: no credentials, nothing personal in the answers).

``/health/live``: the process answers (never touches the store or the DMP). ``/health/ready``: 200, or 503 with
the reasons (``facade.readiness``). ``/health``: the operator's summary (certificates, outbox counts), as before.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from facade.api.deps import RuntimeDep

health_router = APIRouter()


@health_router.get("/health")
async def health(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(runtime.health))


@health_router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@health_router.get("/health/ready")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    readiness = await run_in_threadpool(runtime.readiness)
    return JSONResponse(readiness.body(), status_code=200 if readiness.ready else 503)
