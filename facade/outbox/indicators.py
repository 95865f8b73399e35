"""The DMP feeding indicators (issue 13), computed in the store: SQL aggregates over the registry joined to the
outbox, and over the audit trail for what was refused before it reached the outbox. Nothing here loads records.

Every figure is per (period, site, document type); a document counts in the period it was accepted
(``registry_document.created_at``, UTC). Periods: ``day`` (YYYY-MM-DD), ``week`` (the ISO week's Monday,
YYYY-MM-DD) and ``month`` (YYYY-MM).
- accepted: registry rows; delivered / dead / in progress: the carrying submission's state;
- rejected by the DMP: dead after an answer of the DMP (an XDS errorCode or SOAP fault code in the stored failure),
  by that code (the most specific one); dead without one (transport, retry horizon) is dead-lettered by our code;
- refused by the facade: ``rejected`` audit events (validation before the outbox) by problem code;
- replacements (RPLC sent) and replaced (deprecated once the replacement was delivered), deleted (ITI-57 to Deleted,
  as reconciled), and of the delivered documents the DMP still holds (approved or archived) the masked (MASQUE_PS)
  and invisible (INVISIBLE_PATIENT / _REPRESENTANTS_LEGAUX) ones, with the codes the DMP holds now (a masked then
  deleted document counts as deleted only);
- delays, nearest-rank p50 / p90 in seconds, of delivered documents: from the document's date (its creationTime, or
  with ``delay_from="service"`` the end of the documented act) to the DMP's acknowledgement, and from acceptance to
  delivery. PostgreSQL: ``percentile_disc``; SQLite: the same nearest rank with window functions (ROW_NUMBER over the
  group sorted by the delay), both in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
Bucket = Literal["day", "week", "month", "all"]  # "all": the whole range as one period
DelayFrom = Literal["creation", "service"]


class Cursor(Protocol):
    def execute(self, query: str, params: Sequence[Any] = ..., /) -> object: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite and PostgreSQL in these queries."""

    bucket: Callable[[str, Period], str]  # timestamp column -> period label (text)
    seconds: Callable[[str, str], str]  # (later, earlier) -> seconds between them
    json_text: Callable[[str, tuple[str | int, ...]], str]  # JSON column + path -> text
    percentiles_in_sql: bool  # percentile_disc ... WITHIN GROUP


def _sqlite_bucket(col: str, period: Period) -> str:
    epoch = f"{col} / 1000000, 'unixepoch'"
    if period == "week":  # 'weekday 0' moves to the coming Sunday (or stays), -6 days: that ISO week's Monday
        return f"date({epoch}, 'weekday 0', '-6 days')"
    return f"strftime('{'%Y-%m' if period == 'month' else '%Y-%m-%d'}', {epoch})"


def _sqlite_json(col: str, path: tuple[str | int, ...]) -> str:
    steps = "".join(f"[{'#' if p < 0 else ''}{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"json_extract({col}, '${steps}')"


def _pg_bucket(col: str, period: Period) -> str:
    unit = {"day": "day", "week": "week", "month": "month"}[period]
    fmt = "YYYY-MM" if period == "month" else "YYYY-MM-DD"
    return f"to_char(date_trunc('{unit}', {col} AT TIME ZONE 'UTC'), '{fmt}')"


SQLITE = Dialect(
    bucket=_sqlite_bucket,
    seconds=lambda later, earlier: f"(({later}) - ({earlier})) / 1000000.0",
    json_text=_sqlite_json,
    percentiles_in_sql=False,
)
POSTGRES = Dialect(
    bucket=_pg_bucket,
    seconds=lambda later, earlier: f"EXTRACT(EPOCH FROM ({later}) - ({earlier}))::float8",
    json_text=lambda col, path: f"{col} #>> '{{{','.join(str(p) for p in path)}}}'",
    percentiles_in_sql=True,
)


@dataclass(frozen=True)
class IndicatorQuery:
    start: datetime  # acceptance at or after
    end: datetime  # acceptance before
    period: Bucket = "day"
    delay_from: DelayFrom = "creation"
    counts: bool = True  # False: the delays only (counts add up across periods, percentiles do not)


@dataclass(frozen=True)
class Volume:
    """The counts of one (period, site, document type)."""

    period: str
    site: str
    doc_type: str
    accepted: int
    delivered: int
    in_progress: int
    dead: int
    dmp_rejected: int
    replacements: int
    replaced: int
    deleted: int
    masked: int
    invisible: int


@dataclass(frozen=True)
class Cause:
    """Documents refused or dead for one code: ``source`` is ``facade`` (refused before the outbox), ``dmp``
    (rejected by the DMP) or ``delivery`` (dead-lettered without an answer of the DMP)."""

    period: str
    site: str
    doc_type: str
    source: str
    code: str
    count: int


@dataclass(frozen=True)
class Delays:
    """Nearest-rank percentiles in seconds of the delivered documents of one (period, site, document type)."""

    period: str
    site: str
    doc_type: str
    count: int
    document_p50: float | None
    document_p90: float | None
    delivery_p50: float | None
    delivery_p90: float | None


@dataclass(frozen=True)
class Indicators:
    query: IndicatorQuery
    volumes: tuple[Volume, ...]
    causes: tuple[Cause, ...]
    delays: tuple[Delays, ...]


_FROM = " FROM registry_document r JOIN outbox_submission s ON s.id = r.submission_id"
_IN_RANGE = " WHERE r.created_at >= ? AND r.created_at < ?"
_FAILURE_CODE = ("details", "issues", 0, "codings", -1, 1)  # the most specific XDS / SOAP code of the first issue


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _bucket(dialect: Dialect, col: str, period: Bucket) -> str:
    return "'all'" if period == "all" else dialect.bucket(col, period)


def _keys(dialect: Dialect, period: Bucket) -> str:
    return f"{_bucket(dialect, 'r.created_at', period)} AS p, COALESCE(r.site, '') AS site, COALESCE(r.doc_type, '')"


def volumes_sql(dialect: Dialect, period: Bucket) -> str:
    dmp_code = dialect.json_text("s.last_error", _FAILURE_CODE)
    delivered = "s.state = 'delivered'"
    # masked / invisible: what the DMP holds now (ITI-57 updates reconciled); a deleted document is only deleted
    held = f"{delivered} AND r.availability IN ('approved', 'archived')"
    columns = (
        "COUNT(*)",
        _count(delivered),
        _count("s.state IN ('pending', 'sending', 'failed')"),
        _count("s.state = 'dead'"),
        _count(f"s.state = 'dead' AND {dmp_code} IS NOT NULL"),
        _count("r.replaces_entry_uuid IS NOT NULL"),
        _count("r.availability = 'deprecated'"),
        _count("r.availability = 'deleted'"),
        _count(f"{held} AND r.masked = 1"),
        _count(f"{held} AND r.invisible = 1"),
    )
    return f"SELECT {_keys(dialect, period)}, {', '.join(columns)}{_FROM}{_IN_RANGE} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"  # noqa: S608


def dead_causes_sql(dialect: Dialect, period: Bucket) -> str:
    dmp_code = dialect.json_text("s.last_error", _FAILURE_CODE)
    source = f"CASE WHEN {dmp_code} IS NULL THEN 'delivery' ELSE 'dmp' END"
    code = f"COALESCE({dmp_code}, {dialect.json_text('s.last_error', ('code',))}, '')"
    return (
        f"SELECT {_keys(dialect, period)}, {source}, {code}, COUNT(*){_FROM}{_IN_RANGE}"  # noqa: S608
        " AND s.state = 'dead' GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    )


def refusals_sql(dialect: Dialect, period: Bucket) -> str:
    site = f"COALESCE({dialect.json_text('detail', ('site',))}, '')"
    doc_type = f"COALESCE({dialect.json_text('detail', ('type',))}, '')"
    return (
        f"SELECT {_bucket(dialect, 'at', period)}, {site}, {doc_type}, 'facade', outcome, COUNT(*)"  # noqa: S608
        " FROM outbox_audit WHERE event = 'rejected' AND at >= ? AND at < ? GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 5"
    )


def delays_sql(dialect: Dialect, period: Bucket, delay_from: DelayFrom) -> str:
    doc_date = "r.document_time" if delay_from == "creation" else "r.service_time"
    document = dialect.seconds("s.delivered_at", doc_date)
    delivery = dialect.seconds("s.delivered_at", "r.created_at")
    where = f"{_IN_RANGE} AND s.state = 'delivered' AND s.delivered_at IS NOT NULL"
    if dialect.percentiles_in_sql:
        # one sort per delay for both fractions: each aggregate answers an array [p50, p90]
        pcts = ", ".join(f"percentile_disc(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {e})" for e in (document, delivery))
        return f"SELECT {_keys(dialect, period)}, COUNT(*), {pcts}{_FROM}{where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"  # noqa: S608
    group = "PARTITION BY p, site, doc_type"
    inner = f"SELECT {_keys(dialect, period)} AS doc_type, {document} AS d1, {delivery} AS d2{_FROM}{where}"  # noqa: S608
    # NULLs (no document date recorded) rank last and are not counted in n1
    windows = (
        f"COUNT(*) OVER ({group}) AS n, ROW_NUMBER() OVER ({group} ORDER BY d1 IS NULL, d1) AS r1,"
        f" COUNT(d1) OVER ({group}) AS n1, ROW_NUMBER() OVER ({group} ORDER BY d2) AS r2"
    )
    ranked = f"SELECT p, site, doc_type, d1, d2, {windows} FROM ({inner}) x"  # noqa: S608
    pcts = ", ".join(
        f"MIN(CASE WHEN r{k} >= {q} * n{k if k == 1 else ''} THEN d{k} END)" for k in (1, 2) for q in (0.5, 0.9)
    )
    return f"SELECT p, site, doc_type, MAX(n), {pcts} FROM ({ranked}) y GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"  # noqa: S608


def read(
    cur: Cursor, dialect: Dialect, query: IndicatorQuery, *, sql: Callable[[str], str], ts: Callable[[datetime], Any]
) -> Indicators:
    """Run the four aggregates in the caller's (read) transaction: one consistent snapshot."""
    bounds = (ts(query.start), ts(query.end))

    def rows(text: str) -> list[Any]:
        cur.execute(sql(text), bounds)
        return cur.fetchall()

    volumes: tuple[Volume, ...] = ()
    causes: list[Cause] = []
    if query.counts:
        volumes = tuple(
            Volume(str(r[0]), r[1], r[2], *(int(v or 0) for v in r[3:]))
            for r in rows(volumes_sql(dialect, query.period))
        )
        for text in (refusals_sql(dialect, query.period), dead_causes_sql(dialect, query.period)):
            causes += [Cause(str(r[0]), r[1], r[2], r[3], str(r[4]), int(r[5])) for r in rows(text)]
    delays = tuple(
        Delays(str(r[0]), r[1], r[2], int(r[3]), *(None if v is None else float(v) for v in _flat(r[4:], dialect)))
        for r in rows(delays_sql(dialect, query.period, query.delay_from))
    )
    return Indicators(query, volumes, tuple(causes), delays)


def _flat(values: Sequence[Any], dialect: Dialect) -> list[Any]:
    """PostgreSQL answers each delay's percentiles as one array (NULL when no row has that date); SQLite as columns."""
    if not dialect.percentiles_in_sql:
        return list(values)
    return [p for v in values for p in (v if v is not None else [None, None])]
