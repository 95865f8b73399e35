"""The infocentre (issue 13): the DMP feeding indicators an establishment reports on, read from the store.

``report.py`` (query, figures per period / site / type, discharge share) · ``charts.py`` (pygal SVG) · ``page.py``
(the HTML page) · ``export.py`` (CSV, JSON). The aggregates themselves are SQL: ``facade.outbox.indicators``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from facade.infocentre.report import Report, ReportQuery, build, parse_query
from facade.outbox.store import Outbox


def read_report(outbox: Outbox, query: ReportQuery, *, now: datetime) -> Report:
    """The figures per period, and the delays over the whole range (percentiles cannot be merged from the periods'
    ones; the counts of the range are the periods' sums)."""
    whole = replace(query.store_query("all"), counts=False)
    return build(query, outbox.indicators(query.store_query()), outbox.indicators(whole), now=now)


__all__ = ["Report", "ReportQuery", "parse_query", "read_report"]
