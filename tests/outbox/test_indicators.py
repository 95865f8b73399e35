"""The infocentre's aggregates (issue 13) on both back ends: a known load written through the store's own state
machine (accepted, delivered, dead by the DMP, dead by transport, replaced, masked, refused before the outbox),
then every indicator checked against what was done; and an earlier store gains the columns without a rewrite."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from facade.outbox import Failure, SqliteOutbox, State
from facade.outbox.audit import AuditEvent
from facade.outbox.indicator_columns import ADDED
from facade.outbox.indicators import Cause, IndicatorQuery
from facade.outbox.registry import DocumentEntry
from facade.outbox.store import SqlOutbox
from tests.outbox.conftest import T0, FakeClock, make_submission

LEASE = timedelta(seconds=60)
LDL, CRO = "11490-0", "34874-8"
XDS = "urn:oid:1.3.6.1.4.1.19376.1.2.27.1"  # any system: the code is what is counted


def _entry(doc_type: str, *, site: str = "120459876", masked: bool = False, replaces: DocumentEntry | None = None,
           document_time: datetime | None = None) -> DocumentEntry:  # fmt: skip
    uid = f"1.2.250.1.999.2.{uuid.uuid4().int % 10**12}"
    conf = [("2.16.840.1.113883.5.25", "N", "Normal")]
    conf += [("1.2.250.1.213.1.1.4.13", "MASQUE_PS", "M")] if masked else []
    return DocumentEntry(
        unique_id=uid, entry_uuid=f"urn:uuid:{uuid.uuid4()}", set_id=uid + ".9", version=1,
        type_code=("2.16.840.1.113883.6.1", doc_type, doc_type), confidentiality=tuple(conf), title="t",
        mime_type="text/xml", sha1_hex="ab" * 20, size=10, content_sha256="sha256:" + "cd" * 32,
        replaces_unique_id=replaces.unique_id if replaces else None,
        replaces_entry_uuid=replaces.entry_uuid if replaces else None,
        site=site, document_time=document_time or T0 - timedelta(hours=2),
    )  # fmt: skip


def _accept(outbox: SqlOutbox, entry: DocumentEntry) -> str:
    return outbox.enqueue(make_submission(unique_ids=(entry.unique_id,), documents=(entry,))).record.id


def _deliver(outbox: SqlOutbox, clock: FakeClock, sid: str, after: timedelta) -> None:
    clock.advance(after)
    assert outbox.claim_id(sid, clock(), LEASE, "r") is not None
    outbox.complete(sid, {"status": "Success"}, owner="r")


def _kill(outbox: SqlOutbox, clock: FakeClock, sid: str, failure: Failure) -> None:
    assert outbox.claim_id(sid, clock(), LEASE, "r") is not None
    outbox.fail(sid, failure, None, owner="r")


def _dmp_failure(code: str) -> Failure:
    issue = {"code": "xds-metadata-rejected", "message": "m", "codings": [[XDS, code]], "severity": "error"}
    return Failure("xds-metadata-rejected", "rejected", {"issues": [issue]})


def test_each_indicator_counts_what_the_store_recorded(outbox: SqlOutbox, clock: FakeClock) -> None:
    delivered = [_entry(LDL), _entry(LDL, masked=True), _entry(LDL)]
    for n, entry in enumerate(delivered):  # acceptance -> delivery: 10 s, 20 s, 30 s
        _deliver(outbox, clock, _accept(outbox, entry), timedelta(seconds=10 * (n + 1)))
    replacement = _entry(LDL, replaces=delivered[0])
    _deliver(outbox, clock, _accept(outbox, replacement), timedelta(seconds=40))
    _kill(outbox, clock, _accept(outbox, _entry(CRO)), _dmp_failure("XDSRegistryMetadataError"))
    _kill(outbox, clock, _accept(outbox, _entry(CRO)), _dmp_failure("XDSRegistryMetadataError"))
    _kill(outbox, clock, _accept(outbox, _entry(CRO)), Failure("transport-timeout", "read timeout"))
    _accept(outbox, _entry(CRO, site="130000001"))  # still pending
    for problem, doc_type in (("ins-malformed", LDL), ("ins-malformed", LDL), ("visibility-masked-invisible", CRO)):
        detail = {"site": "120459876", "type": doc_type}
        outbox.append_audit(AuditEvent.REJECTED, actor="c", outcome=problem, detail=detail)
    outbox.append_audit(AuditEvent.REPLAYED, actor="c", outcome="delivered")  # not a refusal

    got = outbox.indicators(IndicatorQuery(T0 - timedelta(days=1), T0 + timedelta(days=1), "day"))

    volumes = {(v.site, v.doc_type): v for v in got.volumes}
    assert set(volumes) == {("120459876", LDL), ("120459876", CRO), ("130000001", CRO)}
    ldl, cro = volumes[("120459876", LDL)], volumes[("120459876", CRO)]
    assert {v.period for v in got.volumes} == {"2026-11-25"}
    assert (ldl.accepted, ldl.delivered, ldl.dead, ldl.in_progress) == (4, 4, 0, 0)
    assert (ldl.replacements, ldl.replaced, ldl.masked, ldl.invisible, ldl.deleted) == (1, 1, 1, 0, 0)
    assert (cro.accepted, cro.delivered, cro.dead, cro.dmp_rejected) == (3, 0, 3, 2)
    assert volumes[("130000001", CRO)].in_progress == 1
    assert sorted(got.causes, key=lambda c: (c.source, c.code)) == [
        Cause("2026-11-25", "120459876", CRO, "delivery", "transport-timeout", 1),
        Cause("2026-11-25", "120459876", CRO, "dmp", "XDSRegistryMetadataError", 2),
        Cause("2026-11-25", "120459876", LDL, "facade", "ins-malformed", 2),
        Cause("2026-11-25", "120459876", CRO, "facade", "visibility-masked-invisible", 1),
    ]
    (delay,) = [d for d in got.delays if d.doc_type == LDL]
    assert delay.count == 4
    assert (delay.delivery_p50, delay.delivery_p90) == (20.0, 40.0)  # nearest rank of 10, 20, 30, 40 s
    # document date = T0 - 2 h; acknowledgements at T0 + 10 s, + 30 s, + 60 s, + 100 s
    assert (delay.document_p50, delay.document_p90) == (7230.0, 7300.0)


def test_delays_from_the_documented_act_are_empty_when_no_act_date_was_recorded(
    outbox: SqlOutbox, clock: FakeClock
) -> None:
    _deliver(outbox, clock, _accept(outbox, _entry(LDL)), timedelta(seconds=10))
    span = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    (creation,) = outbox.indicators(IndicatorQuery(*span, "day", "creation")).delays
    (service,) = outbox.indicators(IndicatorQuery(*span, "day", "service")).delays
    assert creation.document_p50 == creation.document_p90 == 7210.0
    assert service.document_p50 is None and service.document_p90 is None  # _entry records no service time
    assert service.delivery_p50 == service.delivery_p90 == 10.0


def test_periods_bucket_by_acceptance_week_and_month(outbox: SqlOutbox, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 29, 23, 0, tzinfo=UTC))  # a Sunday: ISO week of Monday 23 November
    _accept(outbox, _entry(LDL))
    clock.set(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))  # Tuesday: week of Monday 30 November, next month
    _accept(outbox, _entry(LDL))
    span = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    weeks = outbox.indicators(IndicatorQuery(*span, "week"))
    assert [(v.period, v.accepted) for v in weeks.volumes] == [("2026-11-23", 1), ("2026-11-30", 1)]
    months = outbox.indicators(IndicatorQuery(*span, "month"))
    assert [(v.period, v.accepted) for v in months.volumes] == [("2026-11", 1), ("2026-12", 1)]
    outside = outbox.indicators(IndicatorQuery(datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)))
    assert outside.volumes == ()


def test_an_issue_10_store_gains_the_columns_and_its_rows_are_counted(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "old.sqlite"
    store = SqliteOutbox(path, clock=clock)
    _accept(store, _entry(LDL, masked=True))
    store.close()
    conn = sqlite3.connect(path)  # back to the issue-10 shape: without the new columns and indexes
    conn.execute("DROP INDEX registry_document_indicators")
    conn.execute("DROP INDEX outbox_audit_event_at")
    for name, *_ in ADDED:
        conn.execute(f"ALTER TABLE registry_document DROP COLUMN {name}")
    conn.commit()
    conn.close()
    reopened = SqliteOutbox(path, clock=clock)
    (volume,) = reopened.indicators(IndicatorQuery(T0 - timedelta(days=1), T0 + timedelta(days=1))).volumes
    assert (volume.site, volume.doc_type, volume.accepted, volume.delivered) == ("", LDL, 1, 0)
    _deliver(reopened, clock, reopened.list_by_state(State.PENDING)[0].id, timedelta(seconds=5))
    (volume,) = reopened.indicators(IndicatorQuery(T0 - timedelta(days=1), T0 + timedelta(days=1))).volumes
    assert (volume.delivered, volume.masked) == (1, 1)  # the visibility codes backfilled from the JSON column
    reopened.close()
