"""A lab result's precision goes unchanged from the FHIR JSON to the CDA PQ/@value: 4.890 stays 4.890 and 6.00
stays 6.00 (a float round trip would give 4.89 and 6.0)."""

from __future__ import annotations

from lxml import etree

from facade.cda.render import DEFAULT_TEMPLATES_DIR, CdaRenderer

from .conftest import CONFORMANCE, Run

GLYCEMIE = CONFORMANCE / "cr-bio" / "glycemie.json"
NS = {"c": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


def test_trailing_zeros_reach_the_cda_pq_values(run: Run) -> None:
    text = GLYCEMIE.read_text(encoding="utf-8")
    assert text.count('"value": 4.89,') == 1 and text.count('"value": 6.0,') == 1 and '"value": 3.89,' in text
    text = text.replace('"value": 4.89,', '"value": 4.890,').replace('"value": 6.0,', '"value": 6.00,')
    text = text.replace('"value": 3.89,', '"value": 3.8900,')
    (request,) = run(text.encode("utf-8")).submission.documents
    root = etree.fromstring(CdaRenderer(DEFAULT_TEMPLATES_DIR).render(request.document))
    values = root.xpath("//c:observation/c:value[@xsi:type='PQ']/@value", namespaces=NS)
    assert "4.890" in values and "4.89" not in values
    lows = root.xpath("//c:referenceRange//c:low/@value", namespaces=NS)
    highs = root.xpath("//c:referenceRange//c:high/@value", namespaces=NS)
    assert "3.8900" in lows and "3.89" not in lows
    assert "6.00" in highs and "6.0" not in highs
