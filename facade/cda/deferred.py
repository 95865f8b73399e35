"""Large base64 text (an N1's document, a CR-BIO's PDF copy) kept out of the Jinja string and the lxml tree.

While ``deferred_base64()`` is active in a thread, the ``b64`` filter writes a marker for data of ``DEFER_AT`` bytes
or more instead of its base64; the renderer parses, XSD-checks and canonicalises the small document, then
``splice`` puts each base64 text in place of its marker in the canonical bytes. The result is byte for byte the
canonical form of the document rendered inline: base64 holds no character C14N or XML escaping would change, and no
line break (line numbers stay those of the tree). A 10 MiB PDF then costs its 14 MB of base64 once, not as a Jinja
string, its copies, UTF-8 bytes, a libxml2 text node and C14N buffers.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

DEFER_AT = 64 * 1024  # below this the copies cost nothing worth a splice


class DeferredBase64:
    """The data whose base64 a render left as markers (``b64-deferred-<nonce>-<n>``: a request cannot guess one)."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(16)
        self._data: list[bytes] = []

    def add(self, data: bytes) -> str:
        self._data.append(data)
        return self.marker(len(self._data) - 1)

    def marker(self, n: int) -> str:
        return f"b64-deferred-{self._nonce}-{n}"

    def __bool__(self) -> bool:
        return bool(self._data)

    def splice(self, document: bytes) -> bytes:
        """``document`` with each marker replaced by its base64; ValueError unless each marker occurs exactly once."""
        pieces: list[bytes] = []
        rest = document
        for n, data in enumerate(self._data):
            marker = self.marker(n).encode("ascii")
            if document.count(marker) != 1:  # e.g. a template that writes the same value twice
                raise ValueError(f"base64 marker {n} does not occur exactly once in the rendered document")
            head, _, rest = rest.partition(marker)
            pieces += (head, base64.b64encode(data))
        pieces.append(rest)
        return b"".join(pieces)


_ACTIVE: ContextVar[DeferredBase64 | None] = ContextVar("deferred_base64", default=None)


@contextmanager
def deferred_base64() -> Iterator[DeferredBase64]:
    """Markers instead of large base64 for renders in this block (this thread / task only)."""
    deferred = DeferredBase64()
    token = _ACTIVE.set(deferred)
    try:
        yield deferred
    finally:
        _ACTIVE.reset(token)


def defer(data: bytes) -> str | None:
    """The marker standing for ``data``'s base64, or None when it is rendered inline (small, or no splice follows)."""
    deferred = _ACTIVE.get()
    return deferred.add(data) if deferred is not None and len(data) >= DEFER_AT else None
