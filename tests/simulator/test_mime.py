"""The simulator's own MTOM reader (python-multipart's low-level parser)."""

from __future__ import annotations

import pytest

from facade.simulator.mime import MimeError, normalise_cid, parse_multipart_related

CT = 'multipart/related; boundary="XX"; type="application/xop+xml"; start="<root@x>"'
BINARY = b"\x00\r\n--X\rbare CR\nbare LF\r\n--XY\xff"


def message(*parts: tuple[str, bytes], preamble: bytes = b"") -> bytes:
    out = preamble
    for headers, data in parts:
        out += b"--XX\r\n" + headers.encode() + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--XX--\r\n"


def test_parts_are_kept_byte_for_byte_and_the_root_is_found_by_start() -> None:
    body = message(
        ("Content-ID: <doc%1@x>\r\nContent-Type: application/octet-stream", BINARY),
        ("Content-ID: <root@x>\r\nContent-Type: application/xop+xml", b"<e/>"),
        preamble=b"ignored preamble\r\n",
    )
    mime = parse_multipart_related(CT, body)
    assert mime.root.data == b"<e/>"
    assert mime.parts["doc%1@x"].data == BINARY
    assert mime.params["type"] == "application/xop+xml"


@pytest.mark.parametrize(
    ("content_type", "body", "message_part"),
    [
        ("text/xml", b"<x/>", "expected multipart/related"),
        ('multipart/related; type="application/xop+xml"', b"--XX--\r\n", "without a boundary"),
        (CT, b"nothing here", "does not occur"),
        (CT, message(("Content-ID: <other@x>", b"a")), "no part has the start"),
        (
            CT,
            message(("Content-ID: <root@x>", b"a"), ("Content-ID: <d@x>", b"1"), ("Content-ID: <d@x>", b"2")),
            "share the Content-ID",
        ),
        (CT, message(("Content-ID: <root@x>", b"a"), ("Content-Type: text/plain", b"1")), "no Content-ID"),
        (
            CT,
            message(
                ("Content-ID: <root@x>", b"a"), ("Content-ID: <d@x>\r\nContent-Transfer-Encoding: base64", b"AA==")
            ),
            "base64",
        ),
        (CT, b"--XX\r\nContent-ID: <root@x>\r\n\r\nunterminated", "closing delimiter"),
    ],
)
def test_malformed_messages_raise_mime_error(content_type: str, body: bytes, message_part: str) -> None:
    with pytest.raises(MimeError, match=message_part):
        parse_multipart_related(content_type, body)


@pytest.mark.parametrize("value", ["<a@b>", "a@b", "cid:a%40b", " cid:a@b ", "CID:<a@b>"])
def test_content_ids_are_normalised(value: str) -> None:
    assert normalise_cid(value) == "a@b"
