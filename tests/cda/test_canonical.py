"""The CDA is parsed once per conversion: that tree is canonicalised, XSD-checked, and its canonical bytes are what
the lot signature digests (without a second parse)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from facade import xmldoc
from facade.cda.canonical import CanonicalXml, canonical_form
from facade.errors import Problem
from facade.pki import init_test_pki
from facade.runtime import Runtime
from facade.soap.xades import document_digest
from tests.dmp_edge import sending_runtime

BUNDLE = Path(__file__).resolve().parents[2] / "conformance" / "bundles" / "cr-bio" / "panels.json"
CDA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- a prolog\ncomment on two lines -->\n<?pi here?>\n'
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">\n  <id root="1.2.3"/>\n  <!-- c -->\n'
    b"  <title>T</title>\n</ClinicalDocument>\n"
)


def test_canonical_form_is_the_c14n_of_the_tree_and_maps_lines_to_it() -> None:
    tree = xmldoc.parse(CDA).getroottree()
    doc = canonical_form(tree)
    assert isinstance(doc.cda, CanonicalXml)
    assert doc.cda == etree.tostring(etree.fromstring(CDA).getroottree(), method="c14n", with_comments=True)
    reparsed = etree.fromstring(doc.cda)
    for original, again in zip(tree.getroot().iter(), reparsed.iter(), strict=True):
        assert doc.line(original.sourceline) == again.sourceline, original.tag


def test_canonical_bytes_are_digested_as_they_are_and_agree_with_a_fresh_parse() -> None:
    doc = canonical_form(xmldoc.parse(CDA).getroottree())
    expected = base64.b64encode(hashlib.sha1(bytes(doc.cda)).digest()).decode()
    assert document_digest(doc.cda) == expected == document_digest(CDA) == document_digest(bytes(doc.cda))


@pytest.fixture
def runtime(tmp_path: Path, kit_path: Path) -> Runtime:
    pki = init_test_pki(tmp_path / "pki", structure_id="10B0127189", org_name="CH DE DEMONSTRATION")
    rt, _transport = sending_runtime(tmp_path / "state", pki)
    rt.settings.validation_kit = kit_path
    return rt


def test_conversion_and_lot_signature_parse_each_cda_once(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    converter, feeder = runtime.converter, runtime.feeder
    assert converter.schema is not None
    parsed: list[bytes] = []

    def counting(real: Any) -> Any:
        def counting_parse(data: bytes, **kwargs: Any) -> etree._Element:
            parsed.append(data)
            return real(data, **kwargs)

        return counting_parse

    monkeypatch.setattr(xmldoc, "parse", counting(xmldoc.parse))  # inbound bytes
    monkeypatch.setattr(xmldoc, "parse_own", counting(xmldoc.parse_own))  # the render's own output
    conversion = converter.convert(BUNDLE.read_bytes())
    prepared = feeder.prepare(conversion)
    (doc,) = conversion.documents
    assert isinstance(doc.cda, CanonicalXml) and not doc.cda.startswith(b"<?xml")
    cda_parses = [d for d in parsed if b"<ClinicalDocument" in d[:300]]
    assert len(cda_parses) == 1
    signature = prepared.parts[-1][1]  # the XAdES lot signature comes last
    assert document_digest(bytes(doc.cda)).encode() in signature  # same digest as a fresh parse would give


def test_xsd_lines_of_a_conversion_are_those_of_the_bytes_sent(runtime: Runtime) -> None:
    converter = runtime.converter
    assert converter.schema is not None
    renderer = converter.renderer
    real = renderer.render_tree

    def broken(doc: Any) -> tuple[bytes, etree._ElementTree]:  # an XSD error on a known line of the output
        data, _tree = real(doc)
        data = data.replace(b"<realmCode", b"<bogus/><realmCode", 1)
        return data, xmldoc.parse(data, large_text=True).getroottree()

    renderer.render_tree = broken  # type: ignore[method-assign]
    conversion = converter.convert(BUNDLE.read_bytes())
    (doc,) = conversion.documents
    (issue, *_) = conversion.by_document[doc.request.document.id]
    assert issue.problem is Problem.OUTPUT_XSD
    bogus_line = next(n for n, line in enumerate(doc.cda.split(b"\n"), 1) if b"<bogus>" in line)
    assert issue.details["line"] == bogus_line == 2  # line 3 of the rendered bytes, after their XML declaration
