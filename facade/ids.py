"""Clock and identifier factories, injected so that every build step is deterministic under test."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime


def system_now() -> datetime:
    return datetime.now(UTC)


class OidFactory:
    """Unique OIDs under ``root``: ``<root>.<microseconds since epoch><2-digit counter>``.

    Unique across restarts of one installation (time based) and within a process (counter). Each arc stays
    free of leading zeros as the OID grammar requires; total length stays well under the 64 chars of XDS uniqueId.
    """

    def __init__(self, root: str, clock: Callable[[], float] = time.time) -> None:
        self.root = root.rstrip(".")
        self._clock = clock
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            n = next(self._counter) % 100
            return f"{self.root}.{int(self._clock() * 1_000_000)}{n:02d}"


class SequentialOids:
    """Test/golden factory: ``<root>.1``, ``<root>.2``, ..."""

    def __init__(self, root: str = "1.2.250.1.999.1") -> None:
        self.root = root
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.root}.{next(self._counter)}"


def new_uuid_urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def derived_entry_uuid(unique_id: str) -> str:
    """The entryUUID of a DocumentEntry whose request gives none: ``urn:uuid:`` + UUIDv5(NAMESPACE_OID, uniqueId).

    A function of the document's uniqueId rather than a random UUID: the uniqueId is already unique per document
    (the DMP refuses a duplicate), so the entryUUID is too; rebuilding the same document (a retry, a replay)
    yields the same entryUUID, so the DMP sees the same document (duplicate uniqueId) rather than a second entry
    clashing on entryUUID; and output stays deterministic under test without one more injected factory.
    """
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, unique_id)}"
