"""MTOM/XOP ``multipart/related`` packaging, by hand: bytes in, bytes out (spec §2.3; stack-notes §5).

``email.mime`` is not used on purpose: its generator rewrites bare LF to CRLF inside binary parts, which would change
the documents whose hash, size and XAdES digests were computed on the exact bytes. Here every part body is copied
verbatim between CRLF-framed delimiters (RFC 2046 §5.1.1: the CRLF before a delimiter belongs to the delimiter).

``pack`` writes::

    Content-Type (HTTP): multipart/related; boundary="B"; type="application/xop+xml"; start="<root-cid>";
                         start-info="application/soap+xml"; action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"

    --B CRLF
    Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml" CRLF
    Content-Transfer-Encoding: binary CRLF
    Content-ID: <root-cid> CRLF CRLF
    <soap envelope bytes> CRLF
    --B CRLF
    Content-Type: application/octet-stream CRLF
    Content-Transfer-Encoding: binary CRLF
    Content-ID: <doc-cid> CRLF CRLF
    <document bytes, untouched> CRLF
    --B-- CRLF

``unpack`` reads that, and also tolerant shapes seen in the wild: LF-only framing (the official GIE TD2.1 sample),
a preamble, header folding, base64 / quoted-printable parts, a missing ``start`` (first part is the root).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

XOP_MEDIA_TYPE = "application/xop+xml"
SOAP12_MEDIA_TYPE = "application/soap+xml"
ROOT_PART_CONTENT_TYPE = f'{XOP_MEDIA_TYPE}; charset=UTF-8; type="{SOAP12_MEDIA_TYPE}"'
DEFAULT_ROOT_CONTENT_ID = "root.message@dmp-facade"

# RFC 2046 §5.1.1 bchars, 1..70 chars, not ending with a space
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# Content-ID: printable ASCII without the msg-id delimiters / whitespace (kept permissive: the GIE sample uses
# "WS_DMP_TD2.1-DocumentME2.xml", which has no "@")
_CONTENT_ID_RE = re.compile(r"[\x21-\x7e]+")
_CONTENT_ID_FORBIDDEN = set('<>"\\')


class MtomError(ValueError):
    """The multipart/related message is malformed (unpack) or cannot be written as asked (pack)."""


@dataclass(frozen=True)
class Part:
    """One MIME part. ``content_id`` is bare (no angle brackets); ``data`` is the exact decoded bytes."""

    content_id: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Attachment:
    """A part to pack whose bytes may be a view (a document sliced from the stored payload is not copied: its bytes
    are then in the payload and the MTOM body, not a third time)."""

    content_id: str
    content_type: str
    data: bytes | memoryview


# ---------------------------------------------------------------------------------------------------------- pack


def pack(
    root: bytes,
    parts: Sequence[Part | Attachment],
    *,
    boundary: str | None = None,
    action: str,
    root_content_id: str = DEFAULT_ROOT_CONTENT_ID,
) -> tuple[str, bytes]:
    """Build an MTOM message. Returns (HTTP Content-Type header value, body bytes).

    The root part is the SOAP envelope (already containing ``xop:Include href="cid:..."``); ``parts`` are the
    attachments, written untouched. Without ``boundary`` one is derived from a hash of the content (deterministic:
    packing the same message twice gives the same bytes) and re-derived until it occurs in no part.
    """
    ids = [root_content_id, *(p.content_id for p in parts)]
    for cid in ids:
        _check_content_id(cid)
    if len(set(ids)) != len(ids):
        raise MtomError(f"duplicate Content-ID among {ids}")
    for p in parts:
        _check_header_value("Content-Type", p.content_type)
    _check_header_value("action", action)
    if '"' in action or "\\" in action:
        raise MtomError(f"action {action!r} cannot be quoted")

    payloads: list[bytes | memoryview] = [root, *(p.data for p in parts)]
    if boundary is None:
        boundary = _derive_boundary(payloads)
    else:
        _check_boundary(boundary)
        delimiter = b"--" + boundary.encode("ascii")
        if any(_occurs(delimiter, data) for data in payloads):
            raise MtomError(f"boundary {boundary!r} occurs inside a part; choose another one")

    content_type = (
        f'multipart/related; boundary="{boundary}"; type="{XOP_MEDIA_TYPE}"; start="<{root_content_id}>"; '
        f'start-info="{SOAP12_MEDIA_TYPE}"; action="{action}"'
    )
    dash = b"--" + boundary.encode("ascii")
    pieces: list[bytes | memoryview] = []  # joined once: a growing bytearray would hold up to twice the body
    headers = [(ROOT_PART_CONTENT_TYPE, root_content_id, root)] + [
        (p.content_type, p.content_id, p.data) for p in parts
    ]
    for part_type, cid, data in headers:
        pieces.append(
            dash
            + b"\r\nContent-Type: "
            + part_type.encode("ascii")
            + b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <"
            + cid.encode("ascii")
            + b">\r\n\r\n"
        )
        pieces += (data, b"\r\n")
    pieces.append(dash + b"--\r\n")
    return content_type, b"".join(pieces)


def cid_href(content_id: str) -> str:
    """``cid:`` URL for a Content-ID (RFC 2392: the id is URL-encoded)."""
    return "cid:" + quote(content_id, safe="@!$&'()*+,;=-._~")


def content_id_from_href(href: str) -> str:
    """Inverse of :func:`cid_href`: ``cid:a%40b`` -> ``a@b``."""
    if not href.lower().startswith("cid:"):
        raise MtomError(f"xop:Include href {href!r} is not a cid: URL")
    return unquote(href[4:])


_SEARCH_CHUNK = 2**20


def _occurs(needle: bytes, data: bytes | memoryview) -> bool:
    """``needle in data``, which a memoryview does not offer: searched a chunk at a time (chunks overlap by the
    needle's length less one, so one across a chunk border is found)."""
    if isinstance(data, bytes):
        return needle in data
    step = _SEARCH_CHUNK
    return any(needle in bytes(data[start : start + step + len(needle) - 1]) for start in range(0, len(data), step))


def _derive_boundary(payloads: Sequence[bytes | memoryview]) -> str:
    digest = hashlib.sha256()
    for data in payloads:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    for counter in range(1000):
        candidate = f"MIMEBoundary_{digest.copy().hexdigest()[:40]}_{counter}"
        delimiter = b"--" + candidate.encode("ascii")
        if not any(_occurs(delimiter, data) for data in payloads):
            return candidate
    raise MtomError("no boundary free of collisions found")  # pragma: no cover - 1000 SHA-256 collisions


def _check_boundary(boundary: str) -> None:
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise MtomError(f"invalid MIME boundary {boundary!r} (RFC 2046: 1-70 chars of bchars)")
    if '"' in boundary:
        raise MtomError(f"invalid MIME boundary {boundary!r}")


def _check_content_id(cid: str) -> None:
    if not _CONTENT_ID_RE.fullmatch(cid) or _CONTENT_ID_FORBIDDEN & set(cid):
        raise MtomError(f'invalid Content-ID {cid!r}: printable ASCII without spaces, <, >, ", \\')


def _check_header_value(name: str, value: str) -> None:
    # an ASCII string is printable exactly when every character is in 0x20-0x7E (two C scans, not one call a char)
    if not value or not (value.isascii() and value.isprintable()):
        raise MtomError(f"invalid {name} {value!r}: printable ASCII only, no line breaks")


# -------------------------------------------------------------------------------------------------------- unpack


def unpack(content_type: str, body: bytes) -> tuple[bytes, dict[str, Part]]:
    """Split an MTOM message. Returns (root part bytes, attachments keyed by bare Content-ID).

    The root is the part named by ``start`` (else the first part). Raises :class:`MtomError` when the message is not
    a well-formed multipart/related body.
    """
    media_type, params = parse_content_type(content_type)
    if media_type != "multipart/related":
        raise MtomError(f"expected multipart/related, got {media_type or content_type!r}")
    boundary = params.get("boundary")
    if not boundary:
        raise MtomError("multipart/related without a boundary parameter")
    start = params.get("start")
    start_id = _strip_angle(start) if start else None

    parts = list(_split(body, boundary.encode("latin-1")))
    if not parts:
        raise MtomError("multipart/related body without any part")
    decoded: list[Part] = []
    for index, (header_block, data) in enumerate(parts):
        headers = _parse_headers(header_block)
        cid = _strip_angle(headers.get("content-id", "")) or f"part-{index}"
        decoded.append(
            Part(
                content_id=cid,
                content_type=headers.get("content-type", "text/plain"),
                data=_decode(data, headers.get("content-transfer-encoding", "binary")),
            )
        )
    ids = [p.content_id for p in decoded]
    if len(set(ids)) != len(ids):
        raise MtomError(f"duplicate Content-ID among {ids}")
    if start_id is None:
        root = decoded[0]
    else:
        matches = [p for p in decoded if p.content_id == start_id]
        if not matches:
            raise MtomError(f"start part <{start_id}> not found among {ids}")
        root = matches[0]
    attachments = {p.content_id: p for p in decoded if p is not root}
    return root.data, attachments


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=b; c="d"`` -> (lower-cased media type, {lower-cased name: unquoted value})."""
    media_type, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        name = rest[i:eq].strip().lower()
        i = eq + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(rest[i])
                i += 1
            i += 1  # closing quote
            val = "".join(chars)
        else:
            semi = rest.find(";", i)
            semi = n if semi < 0 else semi
            val = rest[i:semi].strip()
            i = semi
        if name:
            params[name] = val
    return media_type.strip().lower(), params


def _strip_angle(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def _split(body: bytes, boundary: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield (header block, part body) per part. Framing is CRLF, or LF when the first delimiter line ends in LF."""
    dash = b"--" + boundary
    # first delimiter: at the very start, or after a line break (preamble allowed)
    if body.startswith(dash):
        pos = 0
    else:
        pos = body.find(b"\n" + dash)
        if pos < 0:
            raise MtomError("no opening boundary delimiter")
        pos += 1
    line_end = body.find(b"\n", pos)
    if line_end < 0:
        raise MtomError("truncated message: nothing after the first delimiter")
    crlf = body[line_end - 1 : line_end] == b"\r"
    eol = b"\r\n" if crlf else b"\n"
    delimiter = eol + dash

    cursor = _after_delimiter_line(body, pos + len(dash), eol)
    if cursor is None:
        raise MtomError("malformed opening delimiter line")
    while True:
        next_pos = _find_delimiter(body, delimiter, cursor)
        if next_pos < 0:
            raise MtomError("missing closing boundary delimiter")
        part = body[cursor:next_pos]
        header_end = part.find(eol + eol)
        if part.startswith(eol):  # no headers at all
            header_block, data = b"", part[len(eol) :]
        elif header_end < 0:
            raise MtomError("part without a blank line after its headers")
        else:
            header_block, data = part[:header_end], part[header_end + 2 * len(eol) :]
        yield header_block, data
        after = next_pos + len(delimiter)
        if body[after : after + 2] == b"--":
            return
        cursor_or_none = _after_delimiter_line(body, after, eol)
        if cursor_or_none is None:  # pragma: no cover - _find_delimiter only returns real delimiters
            raise MtomError("malformed delimiter line")
        cursor = cursor_or_none


def _after_delimiter_line(body: bytes, pos: int, eol: bytes) -> int | None:
    """Position after ``[transport padding] EOL`` following a delimiter, or None if something else follows."""
    while pos < len(body) and body[pos] in b" \t":
        pos += 1
    if body.startswith(eol, pos):
        return pos + len(eol)
    return None


def _find_delimiter(body: bytes, delimiter: bytes, start: int) -> int:
    """Next real delimiter: EOL--boundary followed by ``--`` or padding+EOL (a longer boundary-like line is data)."""
    eol = delimiter[: delimiter.index(b"--")]
    pos = body.find(delimiter, start)
    while pos >= 0:
        after = pos + len(delimiter)
        if body[after : after + 2] == b"--" or _after_delimiter_line(body, after, eol) is not None:
            return pos
        pos = body.find(delimiter, pos + 1)
    return -1


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    current: str | None = None
    for raw in lines:
        line = raw.decode("latin-1")
        if not line:
            continue
        if line[0] in " \t" and current is not None:  # folded continuation
            headers[current] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MtomError(f"malformed part header line {line!r}")
        current = name.strip().lower()
        headers[current] = value.strip()
    return headers


def _decode(data: bytes, transfer_encoding: str) -> bytes:
    encoding = transfer_encoding.strip().lower()
    if encoding in ("binary", "8bit", "7bit", ""):
        return data
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(data.split()), validate=True)
        except binascii.Error as exc:
            raise MtomError(f"invalid base64 part: {exc}") from exc
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    raise MtomError(f"unsupported Content-Transfer-Encoding {transfer_encoding!r}")
