"""The infocentre's report, page and exports without a store: query defaults and refusals, period labels, the
discharge types from the catalogue, and text from the store or the DMP kept inert in the page, the SVG and the CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest

from facade.errors import FacadeError
from facade.infocentre.export import to_csv
from facade.infocentre.page import render
from facade.infocentre.report import Report, ReportQuery, build, discharge_types, parse_query, period_labels
from facade.outbox.indicators import Cause, Delays, IndicatorQuery, Indicators, Volume

TODAY = date(2026, 12, 3)


def test_defaults_are_the_last_30_days_per_day_from_the_creation_date() -> None:
    q = parse_query(None, None, None, None, today=TODAY)
    assert (q.first, q.last, q.period, q.delay_from) == (date(2026, 11, 4), TODAY, "day", "creation")
    store = q.store_query()
    assert (store.start, store.end) == (datetime(2026, 11, 4, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC))


@pytest.mark.parametrize(
    ("args", "expression"),
    [
        (("hour", None, None, None), "period"),
        ((None, "03/12/2026", None, None), "from"),
        ((None, None, "2026-02-30", None), "to"),
        ((None, "2026-12-04", None, None), "from"),  # after today's default end
        (("day", "2024-01-01", "2026-01-01", None), "from"),  # too many days per day
        ((None, None, None, "birth"), "delay_from"),
    ],
)
def test_a_bad_parameter_is_refused_with_its_name(args: tuple[str | None, ...], expression: str) -> None:
    with pytest.raises(FacadeError) as raised:
        parse_query(*args, today=TODAY)
    assert raised.value.issues[0].expression == expression


def test_period_labels_are_the_stores_labels_including_empty_periods() -> None:
    assert period_labels(ReportQuery(date(2026, 11, 29), date(2026, 12, 1), "day")) == (
        "2026-11-29", "2026-11-30", "2026-12-01")  # fmt: skip
    assert period_labels(ReportQuery(date(2026, 11, 29), date(2026, 12, 8), "week")) == (
        "2026-11-23", "2026-11-30", "2026-12-07")  # fmt: skip
    assert period_labels(ReportQuery(date(2026, 11, 29), date(2027, 1, 1), "month")) == (
        "2026-11", "2026-12", "2027-01")  # fmt: skip


def test_discharge_types_come_from_the_catalogue() -> None:
    assert discharge_types() == {"11490-0", "57833-6", "34874-8"}


EVIL = '</script><img src=x onerror=alert(1)>=HYPERLINK("http://x")'


def _report(text: str) -> Report:
    """One delivered document whose type code, DMP error code and type text are ``text``."""
    q = ReportQuery(date(2026, 12, 1), date(2026, 12, 1))
    counts = (1, 1, 0, 1, 1, 0, 0, 0, 0, 0)  # accepted, delivered, in progress, dead, rejected, ...
    store_query = IndicatorQuery(datetime.now(UTC), datetime.now(UTC))
    by_period = Indicators(store_query, (Volume("2026-12-01", "120459876", text, *counts),), (), ())
    whole = Indicators(
        store_query,
        (Volume("all", "120459876", text, *counts),),
        (Cause("all", "120459876", text, "dmp", text, 1),),
        (Delays("all", "120459876", text, 1, 60.0, 60.0, 1.0, 1.0),),
    )
    return build(q, by_period, whole, now=datetime.now(UTC))


def test_text_from_the_store_or_the_dmp_stays_text_in_the_page_and_the_csv() -> None:
    report = _report(EVIL)
    html = render(report)
    assert "<img" not in html and "</script><" not in html and "<script" not in html
    assert html.count("&lt;img src=x") >= 3  # the summary, a chart's label and a table, escaped
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)  # nothing to fetch, scheme-relative too
    lines = list(csv.reader(io.StringIO(to_csv(report))))
    codes = {line[5] for line in lines[1:] if line[4] == "dmp_rejected" and line[5]}  # "" = the count line
    assert codes == {EVIL}  # starts with "<": left as it is
    cells = {cell for line in csv.reader(io.StringIO(to_csv(_report("=1+1")))) for cell in line}
    assert "'=1+1" in cells and "=1+1" not in cells
