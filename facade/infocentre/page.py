"""The infocentre page: one self-contained HTML document (inline CSS and SVG, no script, nothing fetched), a form to
choose the range and the period, a summary table per site and document type, and each chart with its table beside
it. Cells carry ``data-site`` / ``data-type`` / ``data-indicator`` so that a browser test can read the figures."""

from __future__ import annotations

from urllib.parse import urlencode

from jinja2 import Environment

from facade.infocentre.charts import Chart, all_charts
from facade.infocentre.report import ALL, Report, Row

# default-src 'none': nothing may be loaded from anywhere (offline by construction); the SVGs carry <style>
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"

SUMMARY = (
    ("accepted", "Accepted"),
    ("delivered", "Delivered to the DMP"),
    ("in_progress", "In progress"),
    ("refused", "Refused by the facade"),
    ("dmp_rejected", "Rejected by the DMP"),
    ("dead", "Dead-lettered"),
    ("replacements", "Replacements sent"),
    ("replaced", "Replaced"),
    ("masked", "Masked (PS)"),
    ("invisible", "Invisible"),
    ("deleted", "Deleted"),
)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Infocentre — DMP feeding indicators</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th:first-child,td.t{text-align:left}
.pair{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start;margin-bottom:2em}
figure{margin:0}
form label{margin-right:1em}
</style></head><body>
<h1>Infocentre — DMP feeding indicators</h1>
<form method="get" action="infocentre">
<label>Period <select name="period">{% for p in ("day", "week", "month") %}
<option value="{{ p }}"{% if p == q.period %} selected{% endif %}>{{ p }}</option>{% endfor %}</select></label>
<label>From <input type="date" name="from" value="{{ q.first.isoformat() }}"></label>
<label>To <input type="date" name="to" value="{{ q.last.isoformat() }}"></label>
<label>Delay from <select name="delay_from">{% for d in ("creation", "service") %}
<option value="{{ d }}"{% if d == q.delay_from %} selected{% endif %}>{{ d }}</option>{% endfor %}</select></label>
<button type="submit">Show</button>
</form>
<p>{{ q.first.isoformat() }} to {{ q.last.isoformat() }} (UTC days; a document counts in the period it was accepted)
— <a href="infocentre.csv?{{ query_string }}">CSV</a> · <a href="infocentre.json?{{ query_string }}">JSON</a>
— generated {{ report.generated_at.strftime("%Y-%m-%d %H:%M:%S") }} UTC</p>

<h2>Summary per site and document type</h2>
<table id="summary"><thead><tr><th>Site (FINESS EG)</th><th>Document type</th>
{% for _, label in summary %}<th>{{ label }}</th>{% endfor %}
<th>Document → DMP p50 / p90 (h)</th><th>Acceptance → delivery p50 / p90 (s)</th></tr></thead><tbody>
{% for r in report.totals %}<tr data-site="{{ r.site }}" data-type="{{ r.type_code }}">
<td class="t">{{ r.site or "(not recorded)" }}</td>
<td class="t">{{ r.type_display }}{% if r.discharge %} ★{% endif %}</td>
{% for key, _ in summary %}<td data-indicator="{{ key }}">{{ r[key] }}</td>{% endfor %}
<td>{{ hours(r.delay_document_p50_s) }} / {{ hours(r.delay_document_p90_s) }}</td>
<td>{{ secs(r.delay_delivery_p50_s) }} / {{ secs(r.delay_delivery_p90_s) }}</td></tr>
{% else %}<tr><td class="t" colspan="{{ summary|length + 4 }}">no document in this range</td></tr>{% endfor %}
</tbody></table>
<p>★ discharge document (lettre de liaison, ordonnance de sortie, compte rendu opératoire).</p>

<h2>Share of discharge documents among those delivered</h2>
<table id="discharge-share"><thead><tr><th>Period</th><th>Site</th><th>Delivered</th><th>Discharge</th>
<th>Share</th></tr></thead><tbody>{% for s in report.shares %}<tr data-site="{{ s.site }}" data-period="{{ s.period }}">
<td class="t">{{ "whole range" if s.period == all else s.period }}</td>
<td class="t">{{ s.site or "(not recorded)" }}</td>
<td>{{ s.delivered }}</td><td>{{ s.discharge_delivered }}</td>
<td data-indicator="discharge_share">{{ pct(s.share) }}</td></tr>{% endfor %}</tbody></table>

{% for chart, table in charts %}
<h2>{{ chart.title }}</h2>
<div class="pair"><figure id="chart-{{ chart.key }}" data-chart="{{ chart.key }}">{{ chart.svg|safe }}</figure>
<table data-table="{{ chart.key }}"><thead><tr>{% for h in table[0] %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for line in table[1] %}<tr>{% for cell in line %}<td{% if loop.index <= table[2] %} class="t"{% endif %}>
{{- cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>
{% endfor %}
</body></html>
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)  # noqa: S701  # autoescape is on
_PAGE = _ENV.from_string(_TEMPLATE)

Table = tuple[list[str], list[list[object]], int]  # headers, lines, how many leading text columns


def _num(value: float | None, unit: float, digits: int) -> str:
    return "–" if value is None else f"{value / unit:.{digits}f}"


def _volume_table(report: Report) -> Table:
    types = sorted({r.type_display for r in report.rows})
    counts = {(r.period, r.type_display): 0 for r in report.rows}
    for r in report.rows:
        counts[(r.period, r.type_display)] += r.delivered
    lines: list[list[object]] = [
        [p, *(counts.get((p, t), 0) for t in types)] for p in report.periods if any(counts.get((p, t)) for t in types)
    ]
    return ["Period", *types], lines, 1


def _delay_table(report: Report, p50: str, p90: str, unit: float, digits: int) -> Table:
    rows = [r for r in report.totals if getattr(r, p50) is not None]
    lines: list[list[object]] = [
        [r.site, r.type_display, r.delivered, _num(getattr(r, p50), unit, digits), _num(getattr(r, p90), unit, digits)]
        for r in rows
    ]
    return ["Site", "Document type", "Delivered", "p50", "p90"], lines, 2


def _cause_table(report: Report) -> Table:
    names = {"facade": "refused by the facade", "dmp": "rejected by the DMP", "delivery": "dead-lettered"}
    lines: list[list[object]] = [
        [names.get(source, source), code, site, t, n] for _, site, t, source, code, n in report.causes
    ]
    return ["Who", "Code", "Site", "Type code", "Documents"], lines, 4


def tables(report: Report) -> dict[str, Table]:
    return {
        "volumes": _volume_table(report),
        "document-delay": _delay_table(report, "delay_document_p50_s", "delay_document_p90_s", 3600.0, 2),
        "delivery-delay": _delay_table(report, "delay_delivery_p50_s", "delay_delivery_p90_s", 1.0, 1),
        "causes": _cause_table(report),
    }


def render(report: Report, charts: list[Chart] | None = None) -> str:
    q = report.query
    by_key = tables(report)
    pairs = [(c, by_key[c.key]) for c in (charts if charts is not None else all_charts(report))]
    return _PAGE.render(
        report=report,
        q=q,
        all=ALL,
        summary=SUMMARY,
        charts=pairs,
        query_string=urlencode(
            {"period": q.period, "from": q.first.isoformat(), "to": q.last.isoformat(), "delay_from": q.delay_from}
        ),  # fmt: skip
        hours=lambda v: _num(v, 3600.0, 2),
        secs=lambda v: _num(v, 1.0, 1),
        pct=lambda v: "–" if v is None else f"{100 * v:.1f} %",
    )


__all__ = ["CONTENT_SECURITY_POLICY", "Row", "render", "tables"]
