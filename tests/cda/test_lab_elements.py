"""The CR-BIO elements written in Python give exactly the text of the Jinja macros they replaced."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.filters import do_indent
from markupsafe import Markup

from facade.cda.environment import create_environment
from facade.cda.render import DEFAULT_TEMPLATES_DIR
from facade.model.document import Address, Code, InstanceId, Organization, Person, Telecom
from facade.model.lab import (
    CodedValue,
    IntervalValue,
    LabBattery,
    LabIsolate,
    LabObservation,
    NullValue,
    PerformingLab,
    PhysicalQuantity,
    RatioValue,
    ReferenceRange,
    TextValue,
)

# the macros as they were (cr-bio/lab.xml.j2 and _base/macros.xml.j2 before facade/cda/lab_elements.py and the
# header elements of facade/cda/elements.py); the leaf ones they call are bound to their Python versions, equal to
# the old macros (test_elements.py)
_LEAVES = "pq", "pq_text", "telecom", "ts"
_MACROS = (
    '{% import "_base/macros.xml.j2" as m %}'
    + "".join(f"{{% set {leaf} = cda_{leaf} %}}" for leaf in _LEAVES)
    + "\n"
    + Path(__file__).with_name("replaced_lab_macros.xml.j2").read_text(encoding="utf-8")
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
    assert inside.render(f=getattr(module, name), args=args) == f"<x>{do_indent(Markup(old), 2)}</x>"


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


_ADDRESS = st.builds(Address, st.lists(_TEXT, max_size=2).map(tuple), _OPTIONAL, _OPTIONAL, _OPTIONAL, _OPTIONAL)
_ORG = st.builds(
    Organization,
    _TEXT,
    _TEXT,
    st.lists(_ADDRESS, max_size=2).map(tuple),
    st.lists(st.builds(Telecom, _TEXT, _OPTIONAL), max_size=2).map(tuple),
)
_IDS = st.lists(st.builds(InstanceId, st.one_of(st.just("1.2.250.1.213.6.3.1"), _TEXT), _OPTIONAL), max_size=2)
_WHEN = st.one_of(
    st.none(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
)
_OBSERVATION = st.builds(
    LabObservation,
    ref=_TEXT,
    code=_CODE,
    label=_TEXT,
    value=st.one_of(st.none(), _VALUE),
    status=_TEXT,
    effective=_WHEN,
    interpretations=st.lists(_CODE, max_size=2).map(tuple),
    reference_range=st.one_of(
        st.none(),
        st.builds(ReferenceRange, st.one_of(st.none(), _QUANTITY), st.one_of(st.none(), _QUANTITY), _OPTIONAL),
    ),
    method=st.one_of(st.none(), _CODE),
    notes=st.lists(_TEXT, max_size=2).map(tuple),
    performer=st.one_of(st.none(), st.builds(PerformingLab, _ORG, _WHEN)),
)


@settings(max_examples=150)
@given(tag=_TEXT, o=_ORG, extra_ids=_IDS, industry=st.one_of(st.none(), _CODE))
def test_org(tag: str, o: Organization, extra_ids: list[InstanceId], industry: Code | None) -> None:
    _same("org", tag, o)
    _same("org", tag, o, extra_ids, industry)


@settings(max_examples=100)
@given(ref=_TEXT, type_code=_TEXT, inversion=st.booleans())
def test_comment(ref: str, type_code: str, inversion: bool) -> None:
    _same("comment", ref)
    _same("comment", ref, type_code, inversion)


@settings(max_examples=300)
@given(o=_OBSERVATION)
def test_observation(o: LabObservation) -> None:
    _same("observation", o)


_RESULT = st.recursive(
    _OBSERVATION,
    lambda members: st.one_of(
        st.builds(
            LabBattery,
            ref=_TEXT,
            code=st.one_of(st.none(), _CODE),
            label=_TEXT,
            members=st.lists(members, max_size=2).map(tuple),
            status=_TEXT,
            effective=_WHEN,
            notes=st.lists(_TEXT, max_size=2).map(tuple),
        ),
        st.builds(
            LabIsolate,
            ref=_TEXT,
            organism=_CODE,
            label=_TEXT,
            members=st.lists(members, max_size=2).map(tuple),
            status=_TEXT,
            effective=_WHEN,
        ),
    ),
    max_leaves=4,
)


@settings(max_examples=200)
@given(r=_RESULT, ref=_TEXT)
def test_result_and_comment_act(r: Any, ref: str) -> None:
    _same("result", r)
    _same("comment_act", ref)
    _same("result_rows", r)
    _same("result_rows", r, 2)


_PERSON = st.builds(
    Person,
    _TEXT,
    _TEXT,
    st.lists(_TEXT, max_size=2).map(tuple),
    st.one_of(st.none(), st.sampled_from(["Mme", "M.", "Dr", "docteur", "Pr", ""]), _TEXT),
)


@settings(max_examples=150)
@given(
    tag=_TEXT, p=_PERSON, start=_WHEN, end=_WHEN, telecoms=st.lists(st.builds(Telecom, _TEXT, _OPTIONAL), max_size=3)
)
def test_header_elements(
    tag: str, p: Person, start: datetime | None, end: datetime | None, telecoms: list[Telecom]
) -> None:
    _same("name", p, module=_BASE)
    _same("person", tag, p, module=_BASE)
    _same("telecoms", telecoms, module=_BASE)
    if start is not None:
        _same("ivl_ts", tag, start, end, module=_BASE)
