"""Who still owns a lease: decided from something a dead process cannot hold (issue 14 item 11).

A process of the facade is one *owner* (``host:pid:token``, see ``facade.outbox.relay.default_owner``; its relays
lease records as ``<owner>-<relay name>``). Before it leases anything it takes, for its whole life:

* an exclusive ``flock`` on ``<state_dir>/owners/<owner>.lock`` (SQLite, one host). The kernel drops it when the
  process dies — also while it is a zombie its parent has not reaped, which the old ``kill(pid, 0)`` check took for
  alive, so a killed child's leases waited out the full lease time (300 s);
* with PostgreSQL, also a session advisory lock ``pg_advisory_lock(NAMESPACE, hash(owner))`` on a connection of its
  own, so owners on other hosts can be judged: the server drops the lock when the session ends (the socket closes at
  the process's death; TCP keepalives of a few seconds catch a host that vanished).

``OwnerJudge.is_gone(lease_owner)`` answers from those locks; a sweeper thread (``watch``) releases the leases of
gone owners every few seconds (``Outbox.recover_expired(dead_owner=...)``: the records are retried at once, flagged
ambiguous). Owners written before this scheme (no lock file) fall back to the pid check of the same host.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0
NAMESPACE = 0x464F574E  # "FOWN": first key of the two-int advisory locks (the outbox uses the one-bigint form)
_OWNER = re.compile(r"(?P<host>[^:\s]+):(?P<pid>\d+):(?P<token>[0-9a-f]+)")
_KEEPALIVE = (  # server side: notice a vanished host within ~10 s instead of the 2 h default
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
)


class _Outbox(Protocol):
    def recover_expired(self, now: datetime, dead_owner: Callable[[str], bool] | None = None) -> list[str]: ...


def process_owner(lease_owner: str) -> str | None:
    """``host:pid:token`` of a lease owner (``host:pid:token-w0``), or None when it is not one of ours."""
    found = _OWNER.match(lease_owner)
    return found.group(0) if found else None


def advisory_key(owner: str) -> int:
    """The second key of an owner's advisory lock: 31 bits of its SHA-256 (a positive int4)."""
    return int.from_bytes(hashlib.sha256(owner.encode()).digest()[:4], "big") & 0x7FFFFFFF


@dataclass
class OwnerJudge:
    """This process's proof of life (held locks) and the judge of other owners."""

    owner: str
    lock_dir: Path
    postgres_dsn: str | None = None
    legacy_is_gone: Callable[[str], bool] = lambda _owner: False
    _file: IO[bytes] | None = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)
    _judge_session: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hold(self) -> None:
        """Take this process's locks (before any lease). Idempotent."""
        with self._lock:
            if self._file is None:
                self.lock_dir.mkdir(parents=True, exist_ok=True)
                handle = open(self._lock_path(self.owner), "ab")  # noqa: SIM115 - held open for the process's life
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._file = handle
            if self.postgres_dsn and self._session is None:
                session = self._connect()
                session.execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, advisory_key(self.owner)))
                self._session = session

    def release(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
            if self._judge_session is not None:
                self._judge_session.close()
                self._judge_session = None
            if self._file is not None:
                self._file.close()
                self._lock_path(self.owner).unlink(missing_ok=True)
                self._file = None

    def is_gone(self, lease_owner: str) -> bool:
        owner = process_owner(lease_owner)
        if owner is None:
            return False  # not a lease of ours: never judged (it expires with its lease)
        if owner == self.owner:
            return False
        if self.postgres_dsn:
            return not self._pg_lock_held(owner)
        path = self._lock_path(owner)
        if not path.exists():
            return self.legacy_is_gone(lease_owner)  # written before lock files, or by another host (never judged)
        return self._file_lock_free(path)

    def watch(self, outbox: _Outbox, stop: threading.Event, interval: float = SWEEP_SECONDS) -> threading.Thread:
        """A daemon thread releasing the leases of gone owners every ``interval`` seconds until ``stop``."""

        def sweep() -> None:
            while not stop.wait(interval):
                try:
                    released = outbox.recover_expired(datetime.now(UTC), dead_owner=self.is_gone)
                except Exception:  # the store may be down for a while: the next sweep retries
                    log.warning("outbox: the sweep for dead owners failed", exc_info=True)
                    continue
                if released:
                    log.warning("outbox: %d submission(s) of a dead process resumed", len(released))

        thread = threading.Thread(target=sweep, name=f"outbox-owners-{self.owner}", daemon=True)
        thread.start()
        return thread

    def _lock_path(self, owner: str) -> Path:
        return self.lock_dir / f"{owner.replace(':', '_')}.lock"

    def _file_lock_free(self, path: Path) -> bool:
        try:
            with open(path, "rb") as probe:
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # only possible once its holder is dead
        except BlockingIOError:
            return False
        except FileNotFoundError:
            return True  # removed by its owner's clean stop
        path.unlink(missing_ok=True)  # our probe's lock went with the close: clear the dead owner's file
        return True

    def _pg_lock_held(self, owner: str) -> bool:
        query = (
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s"
            " AND objid = %s AND objsubid = 2 AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database()))"
        )
        with self._lock:
            try:
                if self._judge_session is None or self._judge_session.closed:
                    self._judge_session = self._connect()
                row = self._judge_session.execute(query, (NAMESPACE, advisory_key(owner))).fetchone()
            except Exception:  # cannot tell: alive (a lease is never taken away on doubt)
                log.warning("outbox: cannot check the owner of a lease in PostgreSQL", exc_info=True)
                self._judge_session = None
                return True
        return bool(row and row[0])

    def _connect(self) -> Any:
        import psycopg

        session = psycopg.connect(self.postgres_dsn or "", autocommit=True, connect_timeout=10)
        for statement in _KEEPALIVE:
            session.execute(statement)
        return session


_JUDGES: dict[tuple[str, Path, str | None], OwnerJudge] = {}
_JUDGES_LOCK = threading.Lock()


@atexit.register
def _release_all() -> None:  # a clean exit removes its lock files (the kernel would drop the locks anyway)
    for judge in list(_JUDGES.values()):
        judge.release()


def judge_for(
    owner: str, state_dir: Path, postgres_dsn: str | None, legacy_is_gone: Callable[[str], bool]
) -> OwnerJudge:
    """The one judge (and set of held locks) of this process for a state folder / database: a second lock on the
    same file from the same process would conflict with the first (flock locks belong to open files)."""
    key = (owner, state_dir.resolve(), postgres_dsn)
    with _JUDGES_LOCK:
        judge = _JUDGES.get(key)
        if judge is None:
            judge = _JUDGES[key] = OwnerJudge(owner, state_dir / "owners", postgres_dsn, legacy_is_gone)
        judge.hold()
        return judge


__all__ = ["NAMESPACE", "SWEEP_SECONDS", "OwnerJudge", "advisory_key", "judge_for", "process_owner"]
