"""A plain PDF rendering of a lab report, for the CR-BIO "FR-Document-PDF-copie" section.

CI-SIS BIO-CR-BIO 2024.01 makes the PDF copy section mandatory (schematron ``CI-SIS_BIO-CR-BIO_2024.01.sch``,
pattern ``variables``). Labs that post only Observations send no PDF, so the facade writes a simple one: A4 pages,
the standard Helvetica fonts in WinAnsi encoding (no embedded font, so this is *not* PDF/A-1; the spec digest §6.2
only recommends PDF/A, and the sender's own rendering, when supplied, is always preferred). Deterministic output
(no dates, no random ids) keeps golden files stable. Pure functions, no dependency.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

_PAGE_W, _PAGE_H = 595, 842  # A4 in points
_MARGIN = 50
_LEADING = 13
_SIZE = 10
_WRAP = 95  # characters per line at 10 pt Helvetica on A4 with 50 pt margins (approximate, safe)
_LINES_PER_PAGE = (_PAGE_H - 2 * _MARGIN) // _LEADING


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")  # WinAnsiEncoding ~ cp1252: French accents render
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


_C0_TO_SPACE = {code: " " for code in range(0x20)}


def _clean(text: str) -> str:
    return text.translate(_C0_TO_SPACE)


def _wrap(line: str) -> list[str]:
    """``textwrap.wrap`` of one line; a short printable line without trailing spaces is its own result (textwrap
    keeps the first line's indentation), and skips textwrap's chunking (most lines of a report: it was a quarter of
    the lab mapping time)."""
    if len(line) <= _WRAP and line.isprintable() and not line.endswith(" "):
        return [line]
    return textwrap.wrap(line, _WRAP, subsequent_indent="    ") or [""]


def text_pdf(title: str, lines: Sequence[str]) -> bytes:
    """A PDF whose first line is ``title`` (bold) followed by ``lines`` (wrapped, paginated)."""
    wrapped: list[tuple[bool, str]] = [(True, _clean(title)), (False, "")]
    for line in lines:
        wrapped.extend((False, p) for p in _wrap(_clean(line)))
    pages = [wrapped[i : i + _LINES_PER_PAGE] for i in range(0, len(wrapped), _LINES_PER_PAGE)] or [[]]

    objects: list[bytes] = []  # object n is objects[n - 1]
    n_pages = len(pages)
    first_page_obj = 5
    kids = " ".join(f"{first_page_obj + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    for index, page in enumerate(pages):
        content = bytearray(b"BT\n")
        content += f"{_LEADING} TL\n{_MARGIN} {_PAGE_H - _MARGIN} Td\n".encode()
        for bold, text in page:
            content += (b"/F2 " if bold else b"/F1 ") + f"{_SIZE} Tf ".encode() + _pdf_string(text) + b" Tj T*\n"
        footer = f"Page {index + 1}/{n_pages}"
        content += b"ET\nBT /F1 8 Tf " + f"{_MARGIN} {_MARGIN // 2} Td ".encode() + _pdf_string(footer) + b" Tj ET\n"
        page_obj = first_page_obj + 2 * index
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_W} {_PAGE_H}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {page_obj + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n".encode() + bytes(content) + b"endstream")

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


__all__ = ["text_pdf"]
