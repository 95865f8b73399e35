from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from facade.soap import mtom
from facade.soap.mtom import MtomError, Part

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
SAMPLE_CT = (
    'multipart/related; type="application/xop+xml"; start="<rootpart@soapui.org>"; '
    'start-info="application/soap+xml"; boundary="----=_Part_9_20030738.1554380517598"'
)

# bytes that look like MIME framing: the round trip must not be fooled by them
TRICKY = [
    b"\r\n--",
    b"\n--",
    b"\r",
    b"\n",
    b"\r\n\r\n",
    b"--MIMEBoundary_",
    b"\r\n--MIMEBoundary_0--\r\n",
    b"Content-ID: <x>\r\n\r\n",
    b"\x00\xff",
]
binary = st.lists(st.one_of(st.binary(max_size=64), st.sampled_from(TRICKY)), max_size=12).map(b"".join)
content_ids = st.from_regex(r"[A-Za-z0-9._%+-]{1,20}@[a-z0-9.-]{1,12}", fullmatch=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(root=binary, datas=st.lists(binary, max_size=4), ids=st.lists(content_ids, min_size=4, max_size=4, unique=True))
@example(root=b"", datas=[b"\r\n--\r\n", b"\n"], ids=["a@b", "c@d", "e@f", "g@h"])
def test_unpack_inverts_pack_for_arbitrary_binary_parts(root: bytes, datas: list[bytes], ids: list[str]) -> None:
    parts = [Part(f"p{i}.{ids[i]}", "application/octet-stream", data) for i, data in enumerate(datas)]
    content_type, body = mtom.pack(root, parts, action=ACTION)
    got_root, got_parts = mtom.unpack(content_type, body)
    assert got_root == root
    assert got_parts == {p.content_id: p for p in parts}


def test_pack_writes_the_mtom_headers_with_crlf_framing() -> None:
    content_type, body = mtom.pack(
        b"<env/>",
        [Part("doc1@x", "application/octet-stream", b"\x00\nA\r")],
        boundary="B0",
        action=ACTION,
        root_content_id="root@x",
    )
    assert content_type == (
        'multipart/related; boundary="B0"; type="application/xop+xml"; start="<root@x>"; '
        f'start-info="application/soap+xml"; action="{ACTION}"'
    )
    assert body == (
        b"--B0\r\n"
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        b"Content-Transfer-Encoding: binary\r\n"
        b"Content-ID: <root@x>\r\n\r\n"
        b"<env/>\r\n"
        b"--B0\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"Content-ID: <doc1@x>\r\n\r\n"
        b"\x00\nA\r\r\n"
        b"--B0--\r\n"
    )


def test_derived_boundary_is_deterministic_and_avoids_the_content() -> None:
    parts = [Part("d@x", "application/octet-stream", b"abc")]
    first = mtom.pack(b"<e/>", parts, action=ACTION)
    assert mtom.pack(b"<e/>", parts, action=ACTION) == first
    boundary = mtom.parse_content_type(first[0])[1]["boundary"]
    # a part that contains that exact delimiter forces another boundary
    evil = [Part("d@x", "application/octet-stream", b"x\r\n--" + boundary.encode() + b"\r\n")]
    ct, body = mtom.pack(b"<e/>", evil, action=ACTION)
    assert mtom.parse_content_type(ct)[1]["boundary"] != boundary
    assert mtom.unpack(ct, body)[1]["d@x"].data == evil[0].data


def test_an_explicit_boundary_found_in_a_part_is_refused() -> None:
    with pytest.raises(MtomError, match="occurs inside a part"):
        mtom.pack(b"<e/>", [Part("d@x", "text/plain", b"--B1 inside")], boundary="B1", action=ACTION)


@pytest.mark.parametrize("at", [0, 2**20 - 3, 2**20 - 1, 2**20, 2**20 + 5, 2 * 2**20 + 1])
def test_a_boundary_inside_a_viewed_part_is_found_across_the_search_chunks(at: int) -> None:
    data = bytearray(b"x" * (2 * 2**20 + 10))
    data[at : at + 4] = b"--B1"
    view = memoryview(bytes(data))
    with pytest.raises(MtomError, match="occurs inside a part"):
        mtom.pack(b"<e/>", [mtom.Attachment("d@x", "text/plain", view)], boundary="B1", action=ACTION)
    clean = memoryview(b"x" * (2 * 2**20 + 10))
    ct, body = mtom.pack(b"<e/>", [mtom.Attachment("d@x", "text/plain", clean)], boundary="B1", action=ACTION)
    assert mtom.unpack(ct, body)[1]["d@x"].data == clean


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boundary": "x" * 71}, "invalid MIME boundary"),
        ({"boundary": "bad\r\nheader"}, "invalid MIME boundary"),
        ({"root_content_id": "a b"}, "invalid Content-ID"),
        ({"root_content_id": "<a@b>"}, "invalid Content-ID"),
        ({"root_content_id": "d@x"}, "duplicate Content-ID"),
    ],
)
def test_pack_refuses_bad_framing_values(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(MtomError, match=message):
        mtom.pack(b"<e/>", [Part("d@x", "text/plain", b"x")], action=ACTION, **kwargs)  # type: ignore[arg-type]


def test_pack_refuses_header_injection_in_a_part_content_type() -> None:
    with pytest.raises(MtomError):
        mtom.pack(b"<e/>", [Part("d@x", "text/plain\r\nX-Evil: 1", b"x")], action=ACTION)


def test_unpack_reads_the_official_gie_sample(kit_path: Path) -> None:
    dmp = kit_path / "examples" / "dmp"
    body = (dmp / "TD2.1_alimentation_request.mime").read_bytes()
    root, parts = mtom.unpack(SAMPLE_CT, body)
    # the kit extracted the root part byte for byte
    assert root == (dmp / "TD2.1_alimentation_request.soap.xml").read_bytes()
    assert sorted(parts) == ["WS_DMP_TD2.1-DocumentME2.xml", "WS_DMP_TD2.1-SignatureXades.xml"]
    assert parts["WS_DMP_TD2.1-SignatureXades.xml"].data == (dmp / "TD2.1_SignatureXades.xml").read_bytes()
    assert parts["WS_DMP_TD2.1-DocumentME2.xml"].content_type.startswith("text/xml; charset=Cp1252")
    # the standalone copy has a BOM and CRLF line ends; the MIME part has neither
    standalone = (dmp / "TD2.1_DocumentME2.xml").read_bytes()
    assert parts["WS_DMP_TD2.1-DocumentME2.xml"].data == standalone.removeprefix(b"\xef\xbb\xbf").replace(
        b"\r\n", b"\n"
    )


def test_unpack_without_start_takes_the_first_part_and_tolerates_a_preamble() -> None:
    body = (
        b"preamble text\r\n--B\r\nContent-Type: application/xop+xml\r\nContent-ID: <r>\r\n\r\n<root/>\r\n"
        b"--B\r\nContent-Type: text/plain\r\nContent-ID:\r\n  <folded@x>\r\n\r\nhello\r\n--B--\r\nepilogue"
    )
    root, parts = mtom.unpack('multipart/related; boundary="B"', body)
    assert root == b"<root/>"
    assert parts["folded@x"].data == b"hello"


def test_unpack_decodes_base64_parts() -> None:
    body = (
        b"--B\r\nContent-ID: <r>\r\n\r\n<root/>\r\n"
        b"--B\r\nContent-ID: <d>\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--B--\r\n"
    )
    assert mtom.unpack("multipart/related; boundary=B; start=<r>", body)[1]["d"].data == b"\x00\x01\x02\x03"


def test_a_boundary_lookalike_line_inside_a_part_is_data() -> None:
    body = b"--B\r\nContent-ID: <r>\r\n\r\n<root/>\r\n--Bx is not a delimiter\r\n--B--\r\n"
    root, _ = mtom.unpack("multipart/related; boundary=B", body)
    assert root == b"<root/>\r\n--Bx is not a delimiter"


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/soap+xml", b"<x/>", "expected multipart/related"),
        ("multipart/related", b"--B\r\n\r\n", "without a boundary"),
        ("multipart/related; boundary=B", b"no delimiter here", "no opening boundary"),
        ("multipart/related; boundary=B", b"--B\r\nContent-ID: <r>\r\n\r\n<root/>", "missing closing"),
        ("multipart/related; boundary=B; start=<zz>", b"--B\r\nContent-ID: <r>\r\n\r\nx\r\n--B--", "start part"),
        ("multipart/related; boundary=B", b"--B\r\nno-colon-header\r\n\r\nx\r\n--B--", "malformed part header"),
        (
            "multipart/related; boundary=B",
            b"--B\r\nContent-ID: <r>\r\n\r\nx\r\n--B\r\nContent-ID: <r>\r\n\r\ny\r\n--B--",
            "duplicate Content-ID",
        ),
    ],
)
def test_unpack_rejects_malformed_messages(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(MtomError, match=message):
        mtom.unpack(content_type, body)


def test_cid_href_round_trip() -> None:
    assert mtom.cid_href("doc1.ab@dmp-facade") == "cid:doc1.ab@dmp-facade"
    assert mtom.content_id_from_href(mtom.cid_href("a b/c@x")) == "a b/c@x"
    with pytest.raises(MtomError):
        mtom.content_id_from_href("http://example.org/x")


def test_header_values_are_printable_ascii_exactly() -> None:
    """The check is the old per-character one: 0x20-0x7E only (every character below U+0800 tried, and a few more)."""
    for code in [*range(0x800), 0x2028, 0xFEFF, 0x1F600]:
        value = f"text/plain{chr(code)}"
        expected_ok = 0x20 <= code <= 0x7E
        try:
            mtom._check_header_value("Content-Type", value)
        except MtomError:
            assert not expected_ok, hex(code)
        else:
            assert expected_ok, hex(code)
    with pytest.raises(MtomError):
        mtom._check_header_value("action", "")
