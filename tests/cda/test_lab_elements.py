"""The CR-BIO elements written in Python give exactly the text of the Jinja macros they replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from facade.cda.environment import create_environment
from facade.cda.render import DEFAULT_TEMPLATES_DIR
from facade.model.document import Address, Code
from facade.model.lab import (
    CodedValue,
    IntervalValue,
    NullValue,
    PhysicalQuantity,
    RatioValue,
    ReferenceRange,
    TextValue,
)

# the macros as they were (cr-bio/lab.xml.j2 and _base/macros.xml.j2 before facade/cda/lab_elements.py); pq and
# pq_text are bound to their Python versions, equal to the old macros (test_elements.py)
_MACROS = "{% set pq = cda_pq %}{% set pq_text = cda_pq_text %}\n" + (
    Path(__file__).with_name("replaced_lab_macros.xml.j2").read_text(encoding="utf-8")
)
_ENV = create_environment(DEFAULT_TEMPLATES_DIR)
_OLD: Any = _ENV.from_string(_MACROS).module
_LAB: Any = _ENV.get_template("cr-bio/lab.xml.j2").module
_BASE: Any = _ENV.get_template("_base/macros.xml.j2").module

_TEXT = st.text(alphabet=st.sampled_from(["a", "1", "<", "&", '"', ">", "é", " ", "\x01"]), max_size=5)
_OPTIONAL = st.one_of(st.none(), _TEXT)
_QUANTITY = st.builds(PhysicalQuantity, _TEXT, st.one_of(st.just("1"), _TEXT))
_CODE = st.builds(
    Code,
    _TEXT,
    st.one_of(st.just("2.16.840.1.113883.6.1"), st.just(""), _TEXT),
    _TEXT,
    _OPTIONAL,
)
_INTERVAL = st.one_of(
    st.builds(IntervalValue, _QUANTITY, st.one_of(st.none(), _QUANTITY), st.booleans(), st.booleans()),
    st.builds(IntervalValue, st.none(), _QUANTITY, st.booleans(), st.booleans()),
)
_VALUE = st.one_of(
    _QUANTITY,
    st.builds(CodedValue, st.one_of(st.none(), _CODE), _OPTIONAL),
    st.builds(TextValue, _TEXT),
    st.builds(RatioValue, _QUANTITY, _QUANTITY),
    _INTERVAL,
    st.builds(NullValue, _TEXT, _TEXT),
)


def _same(name: str, *args: Any, module: Any = _LAB) -> None:
    old = str(getattr(_OLD, name)(*args))
    new = _ENV.from_string("{{ f(*args) }}").render(f=getattr(module, name), args=args)
    assert new == old
    inside = _ENV.from_string("<x>{{ f(*args)|indent(2) }}</x>")  # markup, as a macro's: not escaped again
    assert inside.render(f=getattr(module, name), args=args) == "<x>" + old.replace("\n", "\n  ") + "</x>"


@settings(max_examples=300)
@given(value=_VALUE, ref=_TEXT, code=_CODE)
def test_value_result_code_and_their_texts(value: Any, ref: str, code: Code) -> None:
    _same("value", value, ref)
    _same("value_text", value)
    _same("result_code", code, ref)


@settings(max_examples=150)
@given(low=st.one_of(st.none(), _QUANTITY), high=st.one_of(st.none(), _QUANTITY), text=_OPTIONAL)
def test_range_text(low: PhysicalQuantity | None, high: PhysicalQuantity | None, text: str | None) -> None:
    _same("range_text", ReferenceRange(low, high, text))


@settings(max_examples=150)
@given(
    lines=st.lists(_TEXT, max_size=3).map(tuple),
    city=_OPTIONAL,
    postal_code=_OPTIONAL,
    country=_OPTIONAL,
    county=_OPTIONAL,
    use=_OPTIONAL,
)
def test_addr(
    lines: tuple[str, ...],
    city: str | None,
    postal_code: str | None,
    country: str | None,
    county: str | None,
    use: str | None,
) -> None:
    _same("addr", Address(lines, city, postal_code, country, county, use), module=_BASE)
