from __future__ import annotations

import base64
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer
from facade.cda.validation import CdaSchema, CdaSchemaError, FullValidator
from facade.errors import DocumentBuildError, Problem, RequestError
from facade.model.document import InstanceId, NonXmlBody

from .golden_files import check_golden, full_validation
from .model_samples import PDF_BYTES, device_author, n1_document

NS = {"h": "urn:hl7-org:v3"}


def _replacement_text_document():  # type: ignore[no-untyped-def]
    return n1_document(
        version=2,
        authors=(device_author(),),
        replaces_id="1.2.250.1.999.1.1.7898.3.77",
        order_ids=(InstanceId("1.2.250.1.999.1.1.7898.9", "ORD-77"),),
        body=NonXmlBody("text/plain", b"Compte rendu: tout va bien.\n"),
    )


SCENARIOS = {
    "n1_pdf.xml": n1_document,
    "n1_text_replacement.xml": _replacement_text_document,
}


@pytest.mark.conformance
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_render_is_valid_and_matches_golden(
    bare_renderer: CdaRenderer, full_validator: FullValidator, name: str
) -> None:
    # kit XSD + structuration minimale, not even a warning; then the bytes
    check_golden(
        f"cda/{name}", bare_renderer.render(SCENARIOS[name]()), full_validation(full_validator, name, doc_type="n1")
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_passes_the_xsd_at_render_time(renderer: CdaRenderer, name: str) -> None:
    # the renderer with a schema raises CdaSchemaError on any XSD error, and never alters the bytes
    out = renderer.render(SCENARIOS[name]())
    assert out == (Path(__file__).resolve().parents[1] / "golden" / "cda" / name).read_bytes()


def test_rendering_is_deterministic(bare_renderer: CdaRenderer) -> None:
    assert bare_renderer.render(n1_document()) == bare_renderer.render(n1_document())


def test_header_order_and_values(bare_renderer: CdaRenderer) -> None:
    root = etree.fromstring(bare_renderer.render(_replacement_text_document()))
    names = [etree.QName(c).localname for c in root]
    assert names == [
        "realmCode", "typeId", "templateId", "templateId", "templateId", "id", "code", "title", "effectiveTime",
        "confidentialityCode", "languageCode", "setId", "versionNumber", "recordTarget", "author", "custodian",
        "legalAuthenticator", "inFulfillmentOf", "documentationOf", "relatedDocument", "componentOf", "component",
    ]  # fmt: skip
    assert [t.get("root") for t in root.findall("h:templateId", NS)] == [
        "2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1", "1.3.6.1.4.1.19376.1.2.20"
    ]  # fmt: skip
    assert root.find("h:id", NS).attrib == {"root": "1.2.250.1.999.1.1.7898.3.1"}  # bare OID, no extension
    assert root.find("h:versionNumber", NS).get("value") == "2"
    assert root.find("h:relatedDocument", NS).get("typeCode") == "RPLC"
    text = root.find("h:component/h:nonXMLBody/h:text", NS)
    assert text.get("mediaType") == "text/plain" and text.get("representation") == "B64"
    assert base64.b64decode(text.text) == b"Compte rendu: tout va bien.\n"
    ins = root.find("h:recordTarget/h:patientRole/h:id", NS)
    assert (ins.get("root"), ins.get("extension")) == ("1.2.250.1.213.1.4.10", "279035121518989")


def test_pdf_body_round_trips(bare_renderer: CdaRenderer) -> None:
    root = etree.fromstring(bare_renderer.render(n1_document()))
    text = root.find("h:component/h:nonXMLBody/h:text", NS)
    assert text.get("mediaType") == "application/pdf"
    assert base64.b64decode(text.text) == PDF_BYTES


def test_text_is_escaped_and_control_characters_dropped(bare_renderer: CdaRenderer) -> None:
    doc = n1_document(title="A & B <c> \"d\" 'e'\x0b\x00 fin")
    root = etree.fromstring(bare_renderer.render(doc))
    assert root.find("h:title", NS).text == "A & B <c> \"d\" 'e' fin"
    org = root.find("h:custodian//h:name", NS)
    assert org.text == "CH DE DEMONSTRATION & ASSOCIES"


def test_naive_datetime_is_a_template_error(bare_renderer: CdaRenderer) -> None:
    doc = n1_document(effective_time=datetime(2024, 5, 2, 10, 0))
    with pytest.raises(DocumentBuildError) as err:
        bare_renderer.render(doc)
    assert err.value.problem is Problem.TEMPLATE_RENDER
    assert err.value.http_status == 500


def _templates_with(tmp_path: Path, folder: str, text: str) -> Path:
    shutil.copytree(DEFAULT_TEMPLATES_DIR / "_base", tmp_path / "_base")
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "document.xml.j2").write_text(text, encoding="utf-8")
    return tmp_path


def test_undefined_name_is_a_template_error(tmp_path: Path) -> None:
    templates = _templates_with(
        tmp_path, "broken", '{% extends "_base/document.xml.j2" %}{% block body %}{{ nowhere.x }}{% endblock %}'
    )
    with pytest.raises(DocumentBuildError) as err:
        CdaRenderer(templates).render(n1_document(template="broken"))
    assert err.value.problem is Problem.TEMPLATE_RENDER
    assert "nowhere" in str(err.value)


def test_unknown_template_folder_is_a_template_error(bare_renderer: CdaRenderer) -> None:
    with pytest.raises(DocumentBuildError) as err:
        bare_renderer.render(n1_document(template="no-such-volet"))
    assert err.value.problem is Problem.TEMPLATE_RENDER


def test_a_volet_can_extend_the_base_blocks(tmp_path: Path, cda_schema: CdaSchema) -> None:
    """The contract other volets (cr-bio) rely on: block names, `doc` in context, macros importable."""
    templates = _templates_with(
        tmp_path,
        "volet",
        """{% extends "_base/document.xml.j2" %}
{% import "_base/macros.xml.j2" as m %}
{% block template_ids %}
  {{ m.ii("templateId", "1.2.250.1.213.1.1.1.29", "2022.01") }}
{% endblock %}
{% block header_participants %}
  <participant typeCode="REF">
    <associatedEntity classCode="PROV">
      {{ m.ii("id", "1.2.250.1.71.4.2.1", doc.legal_authenticator.person.id_nat) }}
    </associatedEntity>
  </participant>
{% endblock %}
{% block body %}
  <component>
    <structuredBody>
      <component>
        <section>
          {{ m.code("code", doc.type_code) }}
          <title>{{ doc.title }}</title>
          <text>ok</text>
        </section>
      </component>
    </structuredBody>
  </component>
{% endblock %}
""",
    )
    out = CdaRenderer(templates, cda_schema).render(n1_document(template="volet"))
    root = etree.fromstring(out)
    assert root.findall("h:templateId", NS)[2].get("extension") == "2022.01"
    assert root.find("h:participant/h:associatedEntity/h:id", NS).get("extension") == "801234567897"
    assert root.find("h:component/h:structuredBody//h:section/h:code", NS).get("code") == "11490-0"


def test_schema_failure_raises_cda_schema_error(tmp_path: Path, cda_schema: CdaSchema) -> None:
    templates = _templates_with(
        tmp_path, "bad", '{% extends "_base/document.xml.j2" %}{% block body %}<bogus/>{% endblock %}'
    )
    with pytest.raises(CdaSchemaError) as err:
        CdaRenderer(templates, cda_schema).render(n1_document(template="bad"))
    assert err.value.problem is Problem.CDA_NOT_SCHEMA_VALID
    assert any("bogus" in i.message for i in err.value.issues)


def test_ill_formed_output_is_a_template_error(tmp_path: Path) -> None:
    templates = _templates_with(
        tmp_path, "ill", '{% extends "_base/document.xml.j2" %}{% block body %}<open>{% endblock %}'
    )
    with pytest.raises(DocumentBuildError) as err:
        CdaRenderer(templates).render(n1_document(template="ill"))
    assert err.value.problem is Problem.TEMPLATE_RENDER and "well-formed" in str(err.value)


def test_passthrough_is_returned_byte_for_byte(renderer: CdaRenderer) -> None:
    supplied = renderer.render(n1_document()).replace(b"<title>", b"<title>  ")  # any valid bytes
    assert renderer.render(replace(n1_document(), passthrough=supplied)) == supplied


def test_invalid_passthrough_is_the_callers_error(renderer: CdaRenderer) -> None:
    bad = b'<ClinicalDocument xmlns="urn:hl7-org:v3"><bogus/></ClinicalDocument>'
    with pytest.raises(RequestError) as err:
        renderer.render(replace(n1_document(), passthrough=bad))
    assert err.value.problem is Problem.CDA_INPUT_INVALID and err.value.http_status == 422
    with pytest.raises(RequestError) as err2:
        renderer.render(replace(n1_document(), passthrough=b"<ClinicalDocument"))
    assert err2.value.problem is Problem.CDA_INPUT_INVALID


def test_passthrough_with_doctype_is_refused(bare_renderer: CdaRenderer) -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    with pytest.raises(RequestError) as err:
        bare_renderer.render(replace(n1_document(), passthrough=evil))
    assert err.value.problem is Problem.XML_FORBIDDEN_CONSTRUCT
