"""The infocentre's report (issue 13): the store's aggregates (facade.outbox.indicators) arranged per period, site
and document type, with the document types' names and the discharge share, for the page, CSV and JSON alike.

Discharge documents (the financing programmes' "documents de sortie"): lettre de liaison à la sortie, ordonnance
(de sortie) and compte rendu opératoire, their typeCodes read from the document-type catalogue. Their share is of
the documents delivered to the DMP."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from facade.errors import FacadeError, Problem
from facade.outbox.indicators import (
    PERIODS,
    Bucket,
    Cause,
    DelayFrom,
    Delays,
    IndicatorQuery,
    Indicators,
    Period,
    Volume,
)
from facade.terminology.catalogue import Catalogue

DISCHARGE_KEYS = ("ldl-ses", "ordonnance", "cr-operatoire")  # catalogue rows
DEFAULT_DAYS = 30
MAX_DAYS = {"day": 400, "week": 3 * 366, "month": 5 * 366}  # bounded charts and tables
ALL = "all"  # the period label of the whole range's figures


@lru_cache(maxsize=1)
def discharge_types() -> frozenset[str]:
    catalogue = Catalogue.load()
    return frozenset(t.type_code.code for k in DISCHARGE_KEYS if (t := catalogue.by_key(k)) is not None)


@lru_cache(maxsize=256)
def type_display(code: str) -> str:
    if not code:
        return "(type not recorded)"
    found = Catalogue.load().by_type_code(code)
    return found.type_code.display if found is not None else code


@dataclass(frozen=True)
class ReportQuery:
    """What the page asks for: ``first`` and ``last`` days (UTC, inclusive), the period, the delay's origin."""

    first: date
    last: date
    period: Period = "day"
    delay_from: DelayFrom = "creation"

    def store_query(self, period: Bucket | None = None) -> IndicatorQuery:
        start = datetime.combine(self.first, datetime.min.time(), UTC)
        end = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), UTC)
        return IndicatorQuery(start, end, period or self.period, self.delay_from)

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()}/{self.last.isoformat()}"


def parse_query(
    period: str | None, first: str | None, last: str | None, delay_from: str | None, *, today: date
) -> ReportQuery:
    """The page's query parameters, with defaults: the last 30 days, per day, delays from the document's creation."""
    chosen = period or "day"
    if chosen not in PERIODS:
        raise _invalid("period", f"{chosen!r}: use day, week or month")
    origin = delay_from or "creation"
    if origin not in ("creation", "service"):
        raise _invalid("delay_from", f"{origin!r}: use creation or service")
    end = _day("to", last) if last else today
    start = _day("from", first) if first else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise _invalid("from", f"{start} is after to={end}")
    if (end - start).days >= MAX_DAYS[chosen]:
        raise _invalid("from", f"at most {MAX_DAYS[chosen]} days per {chosen}")
    return ReportQuery(start, end, chosen, origin)  # type: ignore[arg-type]  # both checked above


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(name, f"{value[:40]!r} is not a date (YYYY-MM-DD)") from None


def _invalid(name: str, reason: str) -> FacadeError:
    return FacadeError(Problem.INVALID_VALUE, expression=name, element=name, reason=reason)


@dataclass
class Row:
    """Every indicator of one (period, site, type)."""

    period: str
    site: str
    type_code: str
    type_display: str
    discharge: bool
    accepted: int = 0
    delivered: int = 0
    in_progress: int = 0
    refused: int = 0  # by the facade, before the outbox
    dmp_rejected: int = 0
    dead: int = 0
    replacements: int = 0
    replaced: int = 0
    deleted: int = 0
    masked: int = 0
    invisible: int = 0
    delay_document_p50_s: float | None = None
    delay_document_p90_s: float | None = None
    delay_delivery_p50_s: float | None = None
    delay_delivery_p90_s: float | None = None


COUNTS = tuple(f.name for f in fields(Row) if f.type == "int")
DELAYS = tuple(f.name for f in fields(Row) if f.name.startswith("delay_"))


@dataclass(frozen=True)
class Share:
    period: str
    site: str
    delivered: int
    discharge_delivered: int

    @property
    def share(self) -> float | None:
        return None if not self.delivered else self.discharge_delivered / self.delivered


@dataclass(frozen=True)
class Report:
    query: ReportQuery
    generated_at: datetime
    rows: tuple[Row, ...]  # per period
    totals: tuple[Row, ...]  # the whole range (period = ALL)
    causes: tuple[tuple[str, str, str, str, str, int], ...]  # (period, site, type, source, code, count), range
    shares: tuple[Share, ...]  # per period and site, then the range (period = ALL)
    periods: tuple[str, ...] = field(default=())  # every period label of the range, in order


def build(query: ReportQuery, by_period: Indicators, whole: Indicators, *, now: datetime) -> Report:
    """``whole``: the range as one period; its counts and causes, when absent, are the sums of ``by_period``'s."""
    if not whole.volumes and not whole.causes:
        whole = replace(whole, volumes=_summed_volumes(by_period), causes=_summed_causes(by_period))
    rows, totals = _rows(by_period), _rows(whole, label=ALL)
    causes = tuple((ALL, c.site, c.doc_type, c.source, c.code, c.count) for c in whole.causes)
    return Report(query, now, rows, totals, causes, (*_shares(rows), *_shares(totals)), period_labels(query))


def _summed_volumes(found: Indicators) -> tuple[Volume, ...]:
    sums: dict[tuple[str, str], list[int]] = {}
    for v in found.volumes:
        counts = [getattr(v, f.name) for f in fields(Volume)[3:]]
        total = sums.setdefault((v.site, v.doc_type), [0] * len(counts))
        total[:] = [a + b for a, b in zip(total, counts, strict=True)]
    return tuple(Volume(ALL, site, doc_type, *counts) for (site, doc_type), counts in sorted(sums.items()))


def _summed_causes(found: Indicators) -> tuple[Cause, ...]:
    sums: dict[tuple[str, str, str, str], int] = {}
    for c in found.causes:
        key = (c.site, c.doc_type, c.source, c.code)
        sums[key] = sums.get(key, 0) + c.count
    return tuple(Cause(ALL, *key, n) for key, n in sorted(sums.items()))


def _rows(found: Indicators, label: str | None = None) -> tuple[Row, ...]:
    discharge = discharge_types()
    rows: dict[tuple[str, str, str], Row] = {}

    def row(period: str, site: str, code: str) -> Row:
        key = (label or period, site, code)
        if key not in rows:
            rows[key] = Row(*key, type_display(code), code in discharge)
        return rows[key]

    for v in found.volumes:
        r = row(v.period, v.site, v.doc_type)
        for name in ("accepted", "delivered", "in_progress", "dead", "dmp_rejected", "replacements", "replaced",
                     "deleted", "masked", "invisible"):  # fmt: skip
            setattr(r, name, getattr(v, name))
    for c in found.causes:
        if c.source == "facade":
            row(c.period, c.site, c.doc_type).refused += c.count
    for d in found.delays:
        _set_delays(row(d.period, d.site, d.doc_type), d)
    return tuple(sorted(rows.values(), key=lambda r: (r.period, r.site, r.type_code)))


def _set_delays(row: Row, d: Delays) -> None:
    row.delay_document_p50_s, row.delay_document_p90_s = d.document_p50, d.document_p90
    row.delay_delivery_p50_s, row.delay_delivery_p90_s = d.delivery_p50, d.delivery_p90


def _shares(rows: Iterable[Row]) -> list[Share]:
    sums: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        total, discharge = sums.get((r.period, r.site), (0, 0))
        sums[(r.period, r.site)] = (total + r.delivered, discharge + (r.delivered if r.discharge else 0))
    return [Share(p, s, t, d) for (p, s), (t, d) in sorted(sums.items())]


def period_labels(query: ReportQuery) -> tuple[str, ...]:
    """Every period of the range as the store labels them (so that a chart shows the empty ones too)."""
    labels: list[str] = []
    day = query.first
    while day <= query.last:
        if query.period == "day":
            label = day.isoformat()
        elif query.period == "week":
            label = (day - timedelta(days=day.weekday())).isoformat()
        else:
            label = day.strftime("%Y-%m")
        if not labels or labels[-1] != label:
            labels.append(label)
        day += timedelta(days=1)
    return tuple(labels)
