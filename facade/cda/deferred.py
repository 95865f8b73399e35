"""Large base64 text (an N1's document, a CR-BIO's PDF copy) kept out of the Jinja string and the lxml tree.

While ``deferred_base64()`` is active in a thread, the ``b64`` filter writes a marker for data of ``DEFER_AT`` bytes
or more instead of its base64; the renderer parses, XSD-checks and canonicalises the small document, then
``splice`` puts each base64 text in place of its marker in the canonical bytes. The result is byte for byte the
canonical form of the document rendered inline: base64 holds no character C14N or XML escaping would change, and no
line break (line numbers stay those of the tree). A 10 MiB PDF then costs its 14 MB of base64 once, not as a Jinja
string, its copies, UTF-8 bytes, a libxml2 text node and C14N buffers.
"""

from __future__ import annotations

import binascii
import io
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
        """``document`` with each marker replaced by its base64; ValueError unless each marker occurs exactly once.
        The base64 is written a chunk at a time into the result, sized once: a document's base64 never exists whole
        beside the result (a 10 MiB PDF: 13 MB less at this peak)."""
        markers = [self.marker(n).encode("ascii") for n in range(len(self._data))]
        for n, marker in enumerate(markers):
            if document.count(marker) != 1:  # e.g. a template that writes the same value twice
                raise ValueError(f"base64 marker {n} does not occur exactly once in the rendered document")
        size = len(document) + sum(_b64_size(len(d)) - len(m) for d, m in zip(self._data, markers, strict=True))
        out = io.BytesIO()
        out.seek(size - 1)
        out.write(b"\0")  # one allocation of the final size; getvalue then hands that buffer over without a copy
        out.seek(0)
        start = 0
        for data, marker in zip(self._data, markers, strict=True):
            at = document.index(marker, start)
            out.write(memoryview(document)[start:at])
            view = memoryview(data)
            for chunk in range(0, len(view), _CHUNK):
                out.write(binascii.b2a_base64(view[chunk : chunk + _CHUNK], newline=False))
            start = at + len(marker)
        out.write(memoryview(document)[start:])
        assert out.tell() == size
        return out.getvalue()


_CHUNK = 3 * 2**18  # a multiple of 3: the chunks' base64 put end to end is the whole one's


def _b64_size(n: int) -> int:
    return 4 * ((n + 2) // 3)


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
