"""One database connection per thread, for the outbox's two dialects."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from facade.outbox.record import OutboxUnavailableError

C = TypeVar("C")


class _Holder(Generic[C]):
    """Owns one thread's connection; dropped (and the connection closed) when the thread's locals go away."""

    def __init__(self, conn: C, close: Callable[[C], None]) -> None:
        self.conn = conn
        self._close = close

    def close(self) -> None:
        try:
            self._close(self.conn)
        except Exception:  # noqa: S110 -- closing a dead connection must never raise into a GC callback
            pass

    def __del__(self) -> None:
        self.close()


class ThreadConnections(Generic[C]):
    """One connection per thread, closed when its thread ends (pool threads come and go: no descriptor leak)
    or by ``close_all``."""

    def __init__(self, connect: Callable[[], C], close: Callable[[C], None]) -> None:
        self._connect = connect
        self._close = close
        self._local = threading.local()
        self._holders: weakref.WeakSet[_Holder[C]] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    def get(self, usable: Callable[[C], bool] = lambda _: True) -> C:
        if self._closed:
            raise OutboxUnavailableError("the outbox is closed")
        holder: _Holder[C] | None = getattr(self._local, "holder", None)
        if holder is None or not usable(holder.conn):
            if holder is not None:
                holder.close()
            holder = _Holder(self._connect(), self._close)
            self._local.holder = holder
            with self._lock:
                self._holders.add(holder)
        return holder.conn

    def discard(self) -> None:
        holder: _Holder[C] | None = getattr(self._local, "holder", None)
        if holder is not None:
            self._local.holder = None
            holder.close()

    def close_all(self) -> None:
        self._closed = True
        with self._lock:
            holders = list(self._holders)
        for holder in holders:
            holder.close()
