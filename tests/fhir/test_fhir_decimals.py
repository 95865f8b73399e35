"""FHIR decimals keep their exact text: JSON numbers with a fraction or an exponent are parsed as Decimal, so
``4.890`` is not ``4.89`` (the precision a lab reports is part of the result)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from facade.errors import BundleParseError
from facade.fhir.parse import MAX_DECIMAL_EXPONENT, json_depth, parse_request

GLYCEMIE = Path(__file__).resolve().parents[2] / "conformance" / "bundles" / "cr-bio" / "glycemie.json"


def with_trailing_zeros() -> bytes:
    text = GLYCEMIE.read_text(encoding="utf-8")
    assert text.count('"value": 4.89,') == 1 and text.count('"value": 6.0,') == 1
    return text.replace('"value": 4.89,', '"value": 4.890,').replace('"value": 6.0,', '"value": 6.00,').encode()


def test_trailing_zeros_survive_in_the_raw_json_and_the_model() -> None:
    parsed = parse_request(with_trailing_zeros())
    (obs,) = [e for e in parsed.entries if str(e.raw.get("valueQuantity", {}).get("value")) == "4.890"]
    value = obs.raw["valueQuantity"]["value"]
    assert isinstance(value, Decimal) and str(value) == "4.890"
    assert str(obs.raw["referenceRange"][0]["high"]["value"]) == "6.00"
    assert not hasattr(parsed, "model")  # one representation: the R4B model only validates the structure
    bundle = Bundle.model_validate(parsed.raw)  # ... and reads the same Decimals
    assert bundle.entry is not None
    model = bundle.entry[obs.index].resource
    assert isinstance(model, Observation) and model.valueQuantity is not None and model.referenceRange
    assert model.referenceRange[0].high is not None
    assert model.valueQuantity.value == Decimal("4.890") and str(model.valueQuantity.value) == "4.890"
    assert str(model.referenceRange[0].high.value) == "6.00"
    assert json_depth(parsed.raw) > 3  # the depth walk copes with Decimal leaves


def test_integers_stay_integers() -> None:
    body = b'{"resourceType": "Bundle", "type": "transaction", "total": 3}'
    assert type(parse_request(body).raw["total"]) is int


@pytest.mark.parametrize("literal", ["1e999", "-1E+400", f"1e{MAX_DECIMAL_EXPONENT + 1}", "1e-999999999"])
def test_out_of_range_exponents_are_a_400_not_a_memory_bomb(literal: str) -> None:
    body = f'{{"resourceType": "Bundle", "type": "transaction", "entry": [], "x": {literal}}}'.encode()
    with pytest.raises(BundleParseError) as info:
        parse_request(body)
    assert info.value.http_status == 400
    assert info.value.issues[0].problem.spec.code == "body-not-json"
    assert "out of range" in info.value.issues[0].message


def test_ordinary_exponents_are_accepted() -> None:
    text = GLYCEMIE.read_text(encoding="utf-8").replace('"value": 4.89,', '"value": 4.89E+0,')
    parsed = parse_request(text.encode())
    values = [e.raw["valueQuantity"]["value"] for e in parsed.entries if isinstance(e.raw.get("valueQuantity"), dict)]
    assert Decimal("4.89") in values and all(isinstance(v, Decimal) for v in values)
