"""A relay in its own process, for the multi-process tests (not collected by pytest: no test_ prefix).

usage: relay_worker.py BACKEND LOCATION SCHEMA OWNER REGISTRY MODE

BACKEND sqlite|postgres; LOCATION file path or DSN; SCHEMA PostgreSQL schema ('-' for SQLite). Each delivery
appends "<uniqueId> <owner>" to the REGISTRY file (O_APPEND: one write per line) - the stand-in for the DMP.
MODE drain: deliver until nothing is left to do, then exit 0. MODE hang: deliver the first record, then hang
forever before reporting (the parent SIGKILLs us there).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

from facade.outbox import DeliveryResult, OutboxRecord, Relay, RetryPolicy, State
from facade.outbox.store import SqlOutbox


def open_store(backend: str, location: str, schema: str) -> SqlOutbox:
    if backend == "sqlite":
        from facade.outbox import SqliteOutbox

        return SqliteOutbox(location)
    from facade.outbox.postgres import PostgresOutbox

    return PostgresOutbox(location, schema=schema)


def main() -> int:
    backend, location, schema, owner, registry, mode = sys.argv[1:7]
    store = open_store(backend, location, schema)
    fd = os.open(registry, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def deliver(record: OutboxRecord) -> DeliveryResult:
        for uid in record.document_unique_ids:
            os.write(fd, f"{uid} {owner}\n".encode())
        if mode == "hang":
            while True:  # the request went out; we die before complete()
                time.sleep(1)
        time.sleep(0.002)  # widen the window in which a second relay could wrongly take the same record
        return DeliveryResult.delivered({"owner": owner})

    lease = timedelta(seconds=3) if mode == "hang" else timedelta(minutes=5)
    relay = Relay(store, deliver, RetryPolicy(), owner=owner, lease=lease, batch=5)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        relay.run_once()
        counts = store.count_by_state()
        if counts[State.PENDING] + counts[State.FAILED] + counts[State.SENDING] == 0:
            store.close()
            return 0
        time.sleep(0.005)
    return 3


if __name__ == "__main__":
    sys.exit(main())
