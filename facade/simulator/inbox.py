"""Every request the simulator receives, written as ``STATE/inbox/<n>.http``.

File layout: the request line, the header lines as received (original name casing, in order), a blank line, then
the raw body bytes, all CRLF-separated as on the wire. ``n`` is zero-padded and keeps increasing across restarts
(the next number is one more than the highest file present).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^(\d{6,})\.http$")


@dataclass(frozen=True)
class InboxEntry:
    number: int
    path: Path
    size: int
    request_line: str

    def to_json(self) -> dict[str, Any]:
        return {"n": self.number, "file": self.path.name, "size": self.size, "request_line": self.request_line}


def format_request(
    method: str, target: str, http_version: str, headers: Sequence[tuple[bytes, bytes]], body: bytes
) -> bytes:
    head = [f"{method} {target} HTTP/{http_version}".encode("latin-1")]
    head += [name + b": " + value for name, value in headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class Inbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._next = max((n for n in self._numbers()), default=0) + 1

    def write(self, raw: bytes) -> int:
        """Store one request; returns its number. The file appears atomically (written aside, then renamed)."""
        with self._lock:
            number = self._next
            self._next += 1
            path = self.path(number)
            tmp = path.with_suffix(".part")
            with open(tmp, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)
            return number

    def path(self, number: int) -> Path:
        return self.directory / f"{number:06d}.http"

    def read(self, number: int) -> bytes | None:
        path = self.path(number)
        return path.read_bytes() if path.is_file() else None

    def entries(self) -> list[InboxEntry]:
        out = []
        for number in sorted(self._numbers()):
            path = self.path(number)
            with open(path, "rb") as f:
                first = f.readline(8192).rstrip(b"\r\n").decode("latin-1")
            out.append(InboxEntry(number, path, path.stat().st_size, first))
        return out

    def _numbers(self) -> list[int]:
        return [int(m.group(1)) for p in self.directory.iterdir() if (m := _NAME.match(p.name))]
