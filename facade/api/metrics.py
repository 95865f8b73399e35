"""``GET /metrics``: the Prometheus exposition (``facade.metrics``), behind the audit trail's authentication.

Its figures (volumes per site and type, DMP error codes, backlog) are operational data of the hospital: the scraper
is a client like any other (a client certificate in ``mtls`` mode, a bearer token with the audit scope in ``oauth2``
mode) and must be allowed to audit (``FACADE_AUTH__AUDIT_SCOPE`` / ``__AUDIT_SUBJECTS``). Nothing personal is in
it: no INS, no name, no document id.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from facade.api.deps import AuditorDep, RuntimeDep
from facade.metrics import CONTENT_TYPE

metrics_router = APIRouter()


@metrics_router.get("/metrics", response_class=Response)
async def metrics(_: AuditorDep, runtime: RuntimeDep) -> Response:
    body = await run_in_threadpool(runtime.metrics.exposition)  # the gauges read the store: off the event loop
    return Response(body, media_type=CONTENT_TYPE)
