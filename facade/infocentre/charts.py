"""The infocentre's charts, drawn server-side as inline SVG by pygal (no JavaScript, nothing fetched: the page works
on a hospital network without internet). Each chart sums over the sites; the tables beside them keep the detail.

pygal escapes every label it writes (it builds the SVG as an element tree), so codes and names from the store or
from the DMP's answers cannot inject markup."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from lxml import etree
from pygal.style import Style

from facade.infocentre.report import Report, Row

# pygal appends a legacy import hook for its map plugins (unused here) to sys.meta_path; under Python 3.11 it makes
# every failed import anywhere in the process warn (ImportWarning: find_spec() not found). Taken back out.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]

_STYLE = Style(
    background="white",
    plot_background="white",
    font_family="system-ui, sans-serif",
    colors=("#1f5fa8", "#e07b00", "#2a9d4b", "#c0392b", "#7d3c98", "#16a085", "#7f8c8d", "#b7950b", "#2e4053"),
)
_SOURCES = {"facade": "refused by the facade", "dmp": "rejected by the DMP", "delivery": "dead-lettered"}


@dataclass(frozen=True)
class Chart:
    key: str  # stable id (the page's figure id, the browser test's handle)
    title: str
    svg: str


def _config(**extra: Any) -> pygal.Config:
    settings: dict[str, Any] = {
        "js": [],  # pygal's tooltips load a script from the internet by default: none, the page stays offline
        "disable_xml_declaration": True,  # inline in HTML
        "style": _STYLE,
        "width": 720,
        "height": 360,
        "explicit_size": True,
        "legend_at_bottom": True,
        "truncate_legend": 40,
        "no_data_text": "no data in this range",
    }
    return pygal.Config(**{**settings, **extra})


def _render(chart: Any) -> str:
    """The SVG without the script pygal always embeds (its configuration for tooltips, labels included: a label
    holding ``</script>`` would end it early inside an HTML page), serialised by the element tree (escaped)."""
    tree = chart.render_tree()
    for element in list(tree.iter()):
        if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == "script":
            element.getparent().remove(element)
    return str(etree.tostring(tree, encoding="unicode"))


def volumes(report: Report) -> Chart:
    """Documents delivered to the DMP per period, stacked by document type."""
    periods = report.periods
    per_type: dict[str, dict[str, int]] = {}
    for r in report.rows:
        counts = per_type.setdefault(r.type_display, {})
        counts[r.period] = counts.get(r.period, 0) + r.delivered
    chart = pygal.StackedBar(_config(x_label_rotation=45 if len(periods) > 12 else 0, show_minor_x_labels=False))
    chart.x_labels = list(periods)
    chart.x_labels_major_every = max(1, len(periods) // 12)
    for name, counts in sorted(per_type.items()):
        if any(counts.values()):
            chart.add(name, [counts.get(p, 0) or None for p in periods])
    return Chart("volumes", f"Documents delivered to the DMP per {report.query.period}, by type", _render(chart))


def _by_type(rows: Sequence[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r.type_display, []).append(r)
    return out


def _delay_chart(report: Report, key: str, title: str, fields: tuple[str, str], unit: float) -> Chart:
    chart = pygal.Bar(_config(x_label_rotation=20))
    types = _by_type([r for r in report.totals if getattr(r, fields[0]) is not None])
    chart.x_labels = list(types)
    for label, name in zip(("p50", "p90"), fields, strict=True):
        # several sites: the largest of their percentiles (the tables give each site's)
        chart.add(label, [round(max(getattr(r, name) for r in rows) / unit, 2) for rows in types.values()])
    return Chart(key, title, _render(chart) if types else _render(pygal.Bar(_config())))


def document_delays(report: Report) -> Chart:
    fields = ("delay_document_p50_s", "delay_document_p90_s")
    origin = "creation" if report.query.delay_from == "creation" else "end of the documented act"
    return _delay_chart(report, "document-delay", f"Hours from the document's {origin} to the DMP's acknowledgement",
                        fields, 3600.0)  # fmt: skip


def delivery_delays(report: Report) -> Chart:
    fields = ("delay_delivery_p50_s", "delay_delivery_p90_s")
    return _delay_chart(report, "delivery-delay", "Seconds from acceptance by the facade to delivery", fields, 1.0)


def causes(report: Report) -> Chart:
    """Refusals and rejections by cause over the range, one bar per code, coloured by who refused."""
    sums: dict[tuple[str, str], int] = {}
    for _, _, _, source, code, count in report.causes:
        sums[(source, code)] = sums.get((source, code), 0) + count
    codes = sorted({code for _, code in sums})
    chart = pygal.HorizontalStackedBar(_config(height=max(240, 90 + 28 * len(codes))))
    chart.x_labels = codes
    for source, label in _SOURCES.items():
        values = [sums.get((source, c)) for c in codes]
        if any(values):
            chart.add(label, values)
    return Chart("causes", "Refusals and rejections by cause", _render(chart))


def all_charts(report: Report) -> list[Chart]:
    return [volumes(report), document_delays(report), delivery_delays(report), causes(report)]
