"""The simulator's own MTOM/XOP reader (multipart/related), independent of ``facade.soap.mtom``: a deliberate
second reading of the MTOM the facade writes, so that a mistake shared by writer and reader cannot pass unseen (the
code-duplication report pairs the two; they stay apart on purpose).

Uses python-multipart's low-level ``MultipartParser`` (Starlette's ``form()`` returns nothing for multipart/related,
stack-notes §5). Part bodies are kept byte for byte. Any structural problem raises ``MimeError`` (answered with a SOAP
Fault env:Sender by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_PARTS = 1000


class MimeError(ValueError):
    pass


@dataclass(frozen=True)
class MimePart:
    headers: tuple[tuple[str, str], ...]
    data: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def content_id(self) -> str | None:
        cid = self.header("content-id")
        return normalise_cid(cid) if cid else None

    @property
    def content_type(self) -> str:
        return self.header("content-type") or "text/plain"


@dataclass(frozen=True)
class MultipartRelated:
    params: dict[str, str]  # Content-Type parameters of the HTTP message (type, start, start-info, action ...)
    root: MimePart
    parts: dict[str, MimePart]  # every non-root part, by normalised Content-ID


def normalise_cid(value: str) -> str:
    """``<abc@x>``, ``abc@x`` and ``cid:abc%40x`` all name the same part (RFC 2392: cid URLs are %-encoded)."""
    value = value.strip()
    if value.lower().startswith("cid:"):
        value = unquote(value[4:])
    return value.strip().removeprefix("<").removesuffix(">").strip()


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    ctype, params = parse_options_header(content_type)
    return ctype.decode("latin-1"), {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in params.items()}


def parse_multipart_related(content_type: str, body: bytes) -> MultipartRelated:
    ctype, params = content_type_params(content_type)
    if ctype != "multipart/related":
        raise MimeError(f"expected multipart/related, got {ctype or 'no Content-Type'}")
    boundary = params.get("boundary")
    if not boundary:
        raise MimeError("multipart/related without a boundary parameter")
    parts = _split(boundary.encode("latin-1"), body)
    if not parts:
        raise MimeError("multipart/related message without parts")
    start = params.get("start")
    if start:
        wanted = normalise_cid(start)
        root = next((p for p in parts if p.content_id == wanted), None)
        if root is None:
            raise MimeError(f"no part has the start Content-ID <{wanted}>")
    else:
        root = parts[0]  # RFC 2387: without start, the root is the first part
    others: dict[str, MimePart] = {}
    for part in parts:
        if part is root:
            continue
        cid = part.content_id
        if not cid:
            raise MimeError("an attachment part has no Content-ID")
        if cid in others:
            raise MimeError(f"two parts share the Content-ID <{cid}>")
        others[cid] = part
    return MultipartRelated(params, root, others)


def _split(boundary: bytes, body: bytes) -> list[MimePart]:
    # MultipartParser wants the body to start at the first delimiter: skip a preamble (RFC 2046 allows one)
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        at = body.find(b"\r\n" + delimiter)
        if at < 0:
            raise MimeError("the boundary of the Content-Type does not occur in the body")
        body = body[at + 2 :]

    parts: list[MimePart] = []
    headers: list[tuple[str, str]] = []
    field = bytearray()
    value = bytearray()
    data = bytearray()
    finished = False

    def on_part_begin() -> None:
        headers.clear()
        data.clear()

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        field.extend(buf[start:end])

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        value.extend(buf[start:end])

    def on_header_end() -> None:
        headers.append((field.decode("latin-1").strip(), value.decode("latin-1").strip()))
        field.clear()
        value.clear()

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        data.extend(buf[start:end])

    def on_part_end() -> None:
        if len(parts) >= MAX_PARTS:
            raise MimeError(f"more than {MAX_PARTS} parts")
        parts.append(MimePart(tuple(headers), bytes(data)))

    def on_end() -> None:
        nonlocal finished
        finished = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise MimeError(f"malformed multipart body: {exc}") from exc
    if not finished:
        raise MimeError("the multipart body has no closing delimiter")
    for part in parts:
        encoding = (part.header("content-transfer-encoding") or "binary").lower()
        if encoding not in ("binary", "8bit", "7bit"):
            raise MimeError(f"Content-Transfer-Encoding {encoding} is not allowed in MTOM (binary, 8bit or 7bit)")
    return parts
