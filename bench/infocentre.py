"""The infocentre's query time with a million registry rows (issue 13), on SQLite and PostgreSQL.

    .venv/bin/python bench/infocentre.py                                   # SQLite, 1,000,000 documents
    .venv/bin/python bench/infocentre.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/infocentre.py --rows 200000 --runs 3 --json

The store is created by the facade itself (schema + the infocentre's migration), then filled in bulk by the database
(a recursive CTE in SQLite, generate_series in PostgreSQL: no Python per row): one submission per document spread
over a year, 3 sites, 8 document types, 85 % delivered, 5 % dead (half of them by an XDS errorCode), the rest pending
or retrying, 2 % masked, 1 % replacements; the audit trail gets an ``enqueued`` and a ``delivered`` event per document
and one ``rejected`` event per 50 documents. Then the page's own read (``read_report``: the figures per period and
over the range, as GET /infocentre does) is timed, median of ``--runs`` after one warm-up, for the default view
(30 days per day), a quarter per week and the whole year per month (every row). No assertion: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facade.infocentre import ReportQuery, read_report  # noqa: E402
from facade.infocentre.page import render  # noqa: E402
from facade.outbox.sqlite import SqliteOutbox  # noqa: E402
from facade.outbox.store import SqlOutbox  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_S = 365 * 86400
TYPES = ("11490-0", "57833-6", "34874-8", "11502-2", "18748-4", "11488-4", "34112-3", "15507-7")
SITES = ("120459876", "130000001", "140000002")
VIEWS = {  # label -> (first day, last day, period)
    "30 days per day (default view)": (date(2026, 12, 2), date(2026, 12, 31), "day"),
    "a quarter per week": (date(2026, 10, 1), date(2026, 12, 31), "week"),
    "the whole year per month (every row)": (date(2026, 1, 1), date(2026, 12, 31), "month"),
}


def _pick(values: tuple[str, ...], expr: str) -> str:
    """SQL CASE choosing values[expr % len(values)]."""
    arms = " ".join(f"WHEN {n} THEN '{v}'" for n, v in enumerate(values))
    return f"CASE ({expr}) % {len(values)} {arms} END"


def _columns(ts: Any, json_text: Any) -> dict[str, str]:
    """The generated columns as SQL expressions of i (1..N); ``ts(seconds_expr)`` makes a timestamp."""
    state = (
        "CASE WHEN i % 20 = 0 THEN 'dead' WHEN i % 20 = 1 THEN 'failed' WHEN i % 20 = 2 THEN 'pending'"
        " ELSE 'delivered' END"
    )
    created = f"(i * {YEAR_S} / N)"
    dmp = '{"code":"xds-metadata-rejected","message":"m","details":{"issues":[{"code":"xds-metadata-rejected","codings":[["urn:oid:1.3.6.1.4.1.19376.1.2.27.1","XDSRegistryMetadataError"]]}]}}'  # noqa: E501
    transport = '{"code":"transport-timeout","message":"read timeout","details":{}}'
    which = f"CASE WHEN i % 40 = 0 THEN {_q(dmp)} ELSE {_q(transport)} END"  # half of the dead: by the DMP
    return {
        "state": state,
        "created": ts(created),
        "delivered": f"CASE WHEN i % 20 > 2 THEN {ts(f'{created} + 5 + i % 60')} END",
        "last_error": f"CASE WHEN i % 20 = 0 THEN {json_text(which)} END",
        "type": _pick(TYPES, "i * 2654435761 % 4294967291"),  # scrambled: type, site and state independent
        "site": _pick(SITES, "i * 40503 % 65521"),
        "document_time": ts(f"{created} - 3600 * (1 + i % 72)"),
    }  # fmt: skip


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fill_sql(n: int, series: str, ts: Any, json_text: Any, empty: str) -> list[str]:
    c = _columns(ts, json_text)
    with_n = f"{series} , (SELECT {n} AS N) k"
    type_json = json_text("'[\"2.16.840.1.113883.6.1\",\"' || " + c["type"] + " || '\",\"t\"]'")
    refusal_json = json_text("'{\"site\":\"' || " + c["site"] + " || '\",\"type\":\"' || " + c["type"] + " || '\"}'")
    return [
        f"""INSERT INTO outbox_submission (id, idempotency_key, fingerprint, document_unique_ids, state, attempts,
            next_attempt_at, response, last_error, ambiguous, created_at, updated_at, delivered_at, retry_since,
            patient_hash, actor, context)
            SELECT 'sub-' || i, 'key-' || i, 'fp-' || i, {empty}, {c['state']}, 1, {c['created']}, NULL,
            {c['last_error']}, {'FALSE' if 'jsonb' in empty else '0'}, {c['created']}, {c['created']}, {c['delivered']},
            {c['created']}, 'hmac-sha256:p' || (i % 50000), 'bench', {json_text("'{}'")} FROM {with_n}""",
        f"""INSERT INTO registry_document (unique_id, entry_uuid, set_id, version, type_code, confidentiality, title,
            mime_type, sha1_hex, size, content_sha256, replaces_unique_id, replaces_entry_uuid, submission_id,
            patient_hash, actor, availability, replaced_by, created_at, updated_at, site, doc_type, document_time,
            service_time, masked, invisible)
            SELECT '1.2.250.1.999.9.' || i, 'urn:uuid:bench-' || i, '1.2.250.1.999.8.' || i, 1,
            {type_json}, {json_text("'[]'")}, 't',
            'text/xml', 'ab', 1000, 'sha256:x', NULL,
            CASE WHEN i % 100 = 7 THEN 'urn:uuid:bench-' || (i - 1) END, 'sub-' || i, 'hmac-sha256:p' || (i % 50000),
            'bench', CASE WHEN i % 100 = 6 THEN 'deprecated' ELSE 'approved' END, NULL, {c['created']}, {c['created']},
            {c['site']}, {c['type']}, {c['document_time']}, NULL, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, 0
            FROM {with_n}""",
        f"""INSERT INTO outbox_audit (at, event, outcome, actor, submission_id, patient_hash, document_unique_ids,
            request_id, detail)
            SELECT {c['created']}, CASE WHEN e = 0 THEN 'enqueued' ELSE 'delivered' END, 'accepted', 'bench',
            'sub-' || i, NULL, {empty}, NULL, {json_text("'{}'")}
            FROM {with_n}, (SELECT 0 AS e UNION ALL SELECT 1) ev""",
        f"""INSERT INTO outbox_audit (at, event, outcome, actor, submission_id, patient_hash, document_unique_ids,
            request_id, detail)
            SELECT {c['created']}, 'rejected', CASE WHEN i % 100 = 0 THEN 'ins-key-mismatch' ELSE 'invalid-value' END,
            'bench', NULL, NULL, {empty}, NULL,
            {refusal_json}
            FROM {with_n} WHERE i % 50 = 0""",
    ]


def fill_sqlite(store: SqliteOutbox, n: int) -> None:
    conn = store._conn()
    conn.execute("PRAGMA synchronous = OFF")
    series = f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s) g"  # noqa: E501
    epoch = int(START.timestamp())
    statements = _fill_sql(n, series, lambda sec: f"({epoch} + ({sec})) * 1000000", lambda e: e, "'[]'")
    conn.execute("BEGIN")
    for sql in statements:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")


def fill_postgres(store: SqlOutbox, n: int) -> None:
    statements = _fill_sql(
        n,
        f"generate_series(1::bigint, {n}) AS g(i)",
        lambda sec: f"(TIMESTAMPTZ '{START.isoformat()}' + make_interval(secs => ({sec})::float8))",
        lambda e: f"({e})::jsonb",
        "'[]'::jsonb",
    )
    with store._transaction() as cur:
        for sql in statements:
            cur.execute(sql)
    with store._transaction() as cur:
        cur.execute("ANALYZE")


def measure(store: SqlOutbox, runs: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    now = datetime.now(UTC)
    for label, (first, last, period) in VIEWS.items():
        query = ReportQuery(first, last, period)  # type: ignore[arg-type]
        report = read_report(store, query, now=now)  # warm-up (caches, first plans)
        reads, pages = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            report = read_report(store, query, now=now)
            t1 = time.perf_counter()
            render(report)
            pages.append(time.perf_counter() - t1)
            reads.append(t1 - t0)
        out[label] = {"query_ms": 1000 * statistics.median(reads), "query_min_ms": 1000 * min(reads),
                      "render_ms": 1000 * statistics.median(pages), "rows": float(len(report.rows))}  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="registry rows (documents)")
    parser.add_argument("--runs", type=int, default=5, help="timed reads per view (median)")
    parser.add_argument("--postgres", help="a PostgreSQL DSN: measure there too (in a schema dropped afterwards)")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"rows": args.rows, "python": platform.python_version(), "machine": platform.machine()}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteOutbox(Path(tmp) / "bench.sqlite", synchronous="OFF")
            t0 = time.perf_counter()
            fill_sqlite(store, args.rows)
            results["sqlite"] = {"fill_s": time.perf_counter() - t0, "views": measure(store, args.runs)}
            store.close()
    if args.postgres:
        from facade.outbox.postgres import PostgresOutbox

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        pg = PostgresOutbox(args.postgres, schema=schema)
        try:
            t0 = time.perf_counter()
            fill_postgres(pg, args.rows)
            results["postgres"] = {"fill_s": time.perf_counter() - t0, "views": measure(pg, args.runs)}
        finally:
            with pg._transaction() as cur:
                cur.execute(f"DROP SCHEMA {schema} CASCADE")
            pg.close()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{args.rows:,} registry rows, Python {results['python']}, {results['machine']}")
    for backend in ("sqlite", "postgres"):
        if backend in results:
            print(f"{backend}: bulk fill {results[backend]['fill_s']:.1f} s")
            for label, v in results[backend]["views"].items():
                print(f"  {label}: query {v['query_ms']:.0f} ms (min {v['query_min_ms']:.0f}), "
                      f"page render {v['render_ms']:.0f} ms, {v['rows']:.0f} table rows")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
