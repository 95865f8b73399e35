"""The infocentre's routes (issue 13): the page, its CSV and its JSON, for the same readers as the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from facade.api.deps import AuditorDep, RuntimeDep
from facade.infocentre import Report, ReportQuery, parse_query, read_report
from facade.infocentre.export import to_csv, to_json
from facade.infocentre.page import CONTENT_SECURITY_POLICY, render

infocentre_router = APIRouter()


def report_query(
    period: Annotated[str | None, Query(description="day (default), week or month")] = None,
    first: Annotated[str | None, Query(alias="from", description="first day, YYYY-MM-DD (default: to - 29)")] = None,
    last: Annotated[str | None, Query(alias="to", description="last day, YYYY-MM-DD (default: today, UTC)")] = None,
    delay_from: Annotated[str | None, Query(description="creation (default) or service: the document's date")] = None,
) -> ReportQuery:
    return parse_query(period, first, last, delay_from, today=datetime.now(UTC).date())


async def _report(_: AuditorDep, runtime: RuntimeDep, query: Annotated[ReportQuery, Depends(report_query)]) -> Report:
    return await run_in_threadpool(read_report, runtime.outbox, query, now=datetime.now(UTC))


ReportDep = Annotated[Report, Depends(_report)]
_NO_STORE = {"Cache-Control": "no-store"}  # figures about patients' documents: never kept by a proxy


@infocentre_router.get("/infocentre", response_class=HTMLResponse)
async def infocentre_page(report: ReportDep) -> HTMLResponse:
    html = await run_in_threadpool(render, report)
    return HTMLResponse(html, headers={**_NO_STORE, "Content-Security-Policy": CONTENT_SECURITY_POLICY})


@infocentre_router.get("/infocentre.csv")
async def infocentre_csv(report: ReportDep) -> Response:
    name = f"infocentre-{report.query.first.isoformat()}-{report.query.last.isoformat()}-{report.query.period}.csv"
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(to_csv(report), media_type="text/csv; charset=utf-8", headers=headers)


@infocentre_router.get("/infocentre.json")
async def infocentre_json(report: ReportDep) -> JSONResponse:
    return JSONResponse(to_json(report), headers=_NO_STORE)
