"""The leaf elements written in Python give exactly the text of the Jinja macros they replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from facade.cda.elements import esc
from facade.cda.environment import create_environment
from facade.cda.render import DEFAULT_TEMPLATES_DIR
from facade.model.document import Code, InstanceId, Telecom
from facade.model.lab import PhysicalQuantity

# the macros as they were (templates/cda/_base/macros.xml.j2 and cr-bio/lab.xml.j2 before facade/cda/elements.py)
_MACROS = """\
{% macro ii(tag, root, extension=None) -%}
<{{ tag }} root="{{ root }}"{% if extension is not none %} extension="{{ extension }}"{% endif %}/>
{%- endmacro %}
{% macro instance_id(tag, value) -%}
{{ ii(tag, value.root, value.extension) }}
{%- endmacro %}
{% macro code(tag, value, null_flavor=None, attrs="") -%}
{% if value is not none -%}
<{{ tag }}{{ attrs }} code="{{ value.code }}" displayName="{{ value.display }}" codeSystem="{{ value.system }}"\
{% if value.system_name %} codeSystemName="{{ value.system_name }}"{% endif %}/>
{%- elif null_flavor -%}
<{{ tag }}{{ attrs }} nullFlavor="{{ null_flavor }}"/>
{%- endif %}
{%- endmacro %}
{% macro ts(tag, value, null_flavor="UNK") -%}
{% if value is not none -%}
<{{ tag }} value="{{ value|hl7_ts }}"/>
{%- else -%}
<{{ tag }} nullFlavor="{{ null_flavor }}"/>
{%- endif %}
{%- endmacro %}
{% macro telecom(value) -%}
<telecom value="{{ value.value }}"{% if value.use %} use="{{ value.use }}"{% endif %}/>
{%- endmacro %}
{% macro pq(tag, q, xsi_type=None, inclusive=None) -%}
<{{ tag }}{% if xsi_type %} xsi:type="{{ xsi_type }}"{% endif %} value="{{ q.value }}" unit="{{ q.unit }}"\
{% if inclusive is not none %} inclusive="{{ "true" if inclusive else "false" }}"{% endif %}/>
{%- endmacro %}
{% macro pq_text(q) -%}{{ q.value }}{% if q.unit != "1" %} {{ q.unit }}{% endif %}{%- endmacro %}
{% macro date_text(t) -%}{% if t is not none %}{{ t.strftime("%d/%m/%Y %H:%M") }}{% endif %}{%- endmacro %}
"""
_ENV = create_environment(DEFAULT_TEMPLATES_DIR)
_OLD = _ENV.from_string(_MACROS).module
_NEW: Any = _ENV.get_template("_base/macros.xml.j2").module
_LAB: Any = _ENV.get_template("cr-bio/lab.xml.j2").module

_TEXT = st.text(alphabet=st.sampled_from(["a", "1", "<", "&", '"', "'", ">", "é", " ", "\x01", "\ufffe"]), max_size=6)
_OPTIONAL = st.one_of(st.none(), _TEXT)
_TIME = st.one_of(
    st.none(),
    st.builds(
        lambda d, h: d.replace(tzinfo=timezone(timedelta(minutes=h))),
        st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30)),
        st.integers(-900, 900),
    ),
)


def _same(name: str, *args: Any, module: Any = _NEW) -> None:
    old = getattr(_OLD, name)(*args)
    new = _ENV.from_string("{{ f(*args) }}").render(f=getattr(module, name), args=args)
    assert new == str(old)
    inside = _ENV.from_string("<x>{{ f(*args) }}</x>")  # a result is markup: not escaped again
    assert inside.render(f=getattr(module, name), args=args) == f"<x>{old}</x>"


@settings(max_examples=150)
@given(tag=_TEXT, root=_TEXT, extension=_OPTIONAL, code=_TEXT, display=_TEXT, system_name=_OPTIONAL, nf=_OPTIONAL)
def test_ii_code_instance_id(
    tag: str, root: str, extension: str | None, code: str, display: str, system_name: str | None, nf: str | None
) -> None:
    _same("ii", tag, root, extension)
    _same("instance_id", tag, InstanceId(root, extension))
    _same("code", tag, Code(code, root, display, system_name))
    _same("code", tag, Code(code, root, display, system_name), nf)
    _same("code", tag, None, nf)
    _same("code", tag, None)


@settings(max_examples=150)
@given(tag=_TEXT, when=_TIME, nf=_TEXT, value=_TEXT, use=_OPTIONAL)
def test_ts_telecom_date_text(tag: str, when: datetime | None, nf: str, value: str, use: str | None) -> None:
    _same("ts", tag, when)
    _same("ts", tag, when, nf)
    _same("telecom", Telecom(value, use))
    _same("date_text", when, module=_LAB)


@settings(max_examples=150)
@given(
    tag=_TEXT,
    value=_TEXT,
    unit=st.one_of(st.just("1"), _TEXT),
    xsi_type=_OPTIONAL,
    inclusive=st.sampled_from([None, True, False]),
)
def test_pq(tag: str, value: str, unit: str, xsi_type: str | None, inclusive: bool | None) -> None:
    q = PhysicalQuantity(value, unit)
    _same("pq", tag, q, module=_LAB)
    _same("pq", tag, q, xsi_type, module=_LAB)
    _same("pq", tag, q, xsi_type, inclusive, module=_LAB)
    _same("pq_text", q, module=_LAB)


@pytest.mark.parametrize("name", ["ii", "instance_id", "code", "ts", "telecom"])
def test_the_base_macros_module_binds_the_python_elements(name: str) -> None:
    assert getattr(_NEW, name) is _ENV.globals[f"cda_{name}"]


def test_a_naive_time_is_still_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        _ENV.from_string("{{ m.ts('t', when) }}").render(m=_NEW, when=datetime(2026, 1, 1))
    assert str(_NEW.ts("t", datetime(2026, 1, 1, tzinfo=UTC))) == '<t value="20260101000000+0000"/>'


@given(value=st.one_of(st.text(), st.none(), st.integers(), st.text().map(Markup)))
def test_esc_writes_what_a_template_expression_writes(value: object) -> None:
    assert esc(value) == _ENV.from_string("{{ v }}").render(v=value)
