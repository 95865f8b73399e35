"""The infocentre (issue 13): the DMP feeding indicators an establishment reports on, read from the store.

``report.py`` (query, figures per period / site / type, discharge share) · ``charts.py`` (pygal SVG) · ``page.py``
(the HTML page) · ``export.py`` (CSV, JSON). The aggregates themselves are SQL: ``facade.outbox.indicators``."""

from __future__ import annotations

from datetime import datetime

from facade.infocentre.report import Report, ReportQuery, build, parse_query
from facade.outbox.store import Outbox


def read_report(outbox: Outbox, query: ReportQuery, *, now: datetime) -> Report:
    """The figures per period and over the whole range (percentiles cannot be merged from the periods' ones)."""
    return build(query, outbox.indicators(query.store_query()), outbox.indicators(query.store_query("all")), now=now)


__all__ = ["Report", "ReportQuery", "parse_query", "read_report"]
