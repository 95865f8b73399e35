"""The infocentre's figures for a BI tool: JSON (the report as it is) and CSV in long form, one value per line
(``period, site, type_code, type_display, indicator, code, value``), so that the causes and shares fit the same
columns as the counts. ``period`` is the period's label, or ``all`` for the whole range."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from facade.infocentre.report import ALL, COUNTS, DELAYS, Report, Row, type_display

CSV_COLUMNS = ("period", "site", "type_code", "type_display", "indicator", "code", "value")


def to_json(report: Report) -> dict[str, Any]:
    q = report.query
    return {
        "generated_at": report.generated_at.isoformat(),
        "query": {
            "from": q.first.isoformat(),
            "to": q.last.isoformat(),
            "period": q.period,
            "delay_from": q.delay_from,
            "timezone": "UTC",
        },  # fmt: skip
        "periods": list(report.periods),
        "rows": [asdict(r) for r in report.rows],
        "totals": [asdict(r) for r in report.totals],
        "causes": [
            {"period": p, "site": site, "type_code": t, "source": source, "code": code, "count": n}
            for p, site, t, source, code, n in report.causes
        ],
        "discharge_share": [
            {
                "period": s.period,
                "site": s.site,
                "delivered": s.delivered,
                "discharge_delivered": s.discharge_delivered,
                "share": s.share,
            }  # fmt: skip
            for s in report.shares
        ],
    }


def _row_lines(row: Row) -> Iterator[tuple[Any, ...]]:
    key = (row.period, row.site, row.type_code, row.type_display)
    for name in COUNTS:
        yield (*key, name, "", getattr(row, name))
    for name in DELAYS:
        value = getattr(row, name)
        if value is not None:
            yield (*key, name, "", round(value, 3))


def lines(report: Report) -> Iterator[tuple[Any, ...]]:
    for row in (*report.rows, *report.totals):
        yield from _row_lines(row)
    for period, site, code_type, source, code, count in report.causes:
        indicator = {"facade": "refused", "dmp": "dmp_rejected", "delivery": "dead"}.get(source, source)
        yield (period, site, code_type, type_display(code_type), indicator, code, count)
    for s in report.shares:
        if s.share is not None:
            yield (s.period, s.site, "", "", "discharge_share", "", round(s.share, 4))


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_safe(line) for line in lines(report))
    return out.getvalue()


def _safe(line: tuple[Any, ...]) -> tuple[Any, ...]:
    """A text cell starting with = + - @ is a formula to a spreadsheet: quoted with a leading apostrophe (codes come
    from the DMP's answers and the clients' bodies)."""
    return tuple("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in line)


__all__ = ["ALL", "CSV_COLUMNS", "lines", "to_csv", "to_json"]
