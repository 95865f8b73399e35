"""The CDA leaf elements called most often, written in Python: the same text as the Jinja macros they replace.

A lab report calls these ``II``, ``CD``, ``TS``, ``TEL`` and ``PQ`` writers about 130 times; as Jinja macros each call
went through ``Context.call``, ``Macro.__call__`` and the macro's own output list (a fifth of the CR-BIO render).
Each value is written as ``{{ value }}`` writes it (``finalize`` then the autoescape) and the result is markup, as a
macro's is. The templates still call them by their macro names (``m.ts``, ``pq``): ``_base/macros.xml.j2`` and
``cr-bio/lab.xml.j2`` bind those names to these functions (``create_environment`` registers them as globals).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from facade.cda.filters import hl7_ts, indent, name_prefix, name_suffix, strip_control, xml_text


def esc(value: object) -> str:
    """What ``{{ value }}`` writes: the environment's finalize, then the escape. A plain string with nothing to
    escape is returned as it is (most values: OIDs, codes, names), without the Markup the escape would build."""
    if type(value) is str:
        text = value if value.isprintable() else strip_control(value)
        if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
            return str(escape(text))
        return text
    return str(escape(xml_text(value)))


def ii(tag: str, root: object, extension: object = None) -> Markup:
    """``<tag root extension/>`` (II)."""
    ext = f' extension="{esc(extension)}"' if extension is not None else ""
    return Markup(f'<{esc(tag)} root="{esc(root)}"{ext}/>')  # noqa: S704 - every value escaped by esc


def instance_id(tag: str, value: Any) -> Markup:
    """An InstanceId value as II."""
    return ii(tag, value.root, value.extension)


def code(tag: str, value: Any, null_flavor: object = None, attrs: object = "") -> Markup:
    """CD/CE from a Code; nullFlavor when the code is None (and one is given), else nothing."""
    if value is not None:
        name = f' codeSystemName="{esc(value.system_name)}"' if value.system_name else ""
        return Markup(  # noqa: S704 - every value escaped by esc
            f'<{esc(tag)}{esc(attrs)} code="{esc(value.code)}" displayName="{esc(value.display)}" '
            f'codeSystem="{esc(value.system)}"{name}/>'
        )
    if null_flavor:
        return Markup(f'<{esc(tag)}{esc(attrs)} nullFlavor="{esc(null_flavor)}"/>')  # noqa: S704 - escaped by esc
    return Markup("")


def ts(tag: str, value: Any, null_flavor: object = "UNK") -> Markup:
    """TS with its offset, to the second; nullFlavor when the time is None."""
    if value is not None:
        return Markup(f'<{esc(tag)} value="{esc(hl7_ts(value))}"/>')  # noqa: S704 - escaped by esc
    return Markup(f'<{esc(tag)} nullFlavor="{esc(null_flavor)}"/>')  # noqa: S704 - escaped by esc


def telecom(value: Any) -> Markup:
    """TEL from a Telecom."""
    use = f' use="{esc(value.use)}"' if value.use else ""
    return Markup(f'<telecom value="{esc(value.value)}"{use}/>')  # noqa: S704 - escaped by esc


def pq(tag: str, q: Any, xsi_type: object = None, inclusive: object = None) -> Markup:
    """PQ (value and unit), typed and bounded when asked."""
    typed = f' xsi:type="{esc(xsi_type)}"' if xsi_type else ""
    bound = f' inclusive="{"true" if inclusive else "false"}"' if inclusive is not None else ""
    return Markup(f'<{esc(tag)}{typed} value="{esc(q.value)}" unit="{esc(q.unit)}"{bound}/>')  # noqa: S704 - escaped


def pq_text(q: Any) -> Markup:
    """A quantity as the narrative writes it: ``value unit`` (no unit for ``1``)."""
    unit = f" {esc(q.unit)}" if q.unit != "1" else ""
    return Markup(f"{esc(q.value)}{unit}")  # noqa: S704 - escaped by esc


def date_text(t: Any) -> Markup:
    """A date and time as the narrative writes it, or nothing."""
    return Markup(esc(t.strftime("%d/%m/%Y %H:%M")) if t is not None else "")  # noqa: S704 - escaped by esc


def ivl_ts(tag: str, start: Any, end: Any) -> Markup:
    """IVL_TS: low, and high when there is an end."""
    high = f"  {ts('high', end)}\n" if end is not None else ""
    return Markup(f"<{esc(tag)}>\n  {ts('low', start)}\n{high}</{esc(tag)}>")  # noqa: S704 - escaped by esc


def telecoms(values: Any) -> Markup:
    """One TEL per line."""
    return Markup("".join(f"{telecom(t)}\n" for t in values))  # noqa: S704 - markup from telecom


def name(person: Any) -> Markup:
    """PN of a Person: prefix (civility, J245), given(s), family, suffix (title, J246)."""
    civility, title = name_prefix(person.prefix), name_suffix(person.prefix)
    out = ["<name>\n"]
    if civility:
        out.append(f"  <prefix>{esc(civility)}</prefix>\n")
    out += [f"  <given>{esc(g)}</given>\n" for g in person.given]
    out.append(f"  <family>{esc(person.family)}</family>\n")
    if title:
        out.append(f"  <suffix>{esc(title)}</suffix>\n")
    out.append("</name>")
    return Markup("".join(out))  # noqa: S704 - every value escaped by esc


def person(tag: str, value: Any) -> Markup:
    """assignedPerson / associatedPerson ... of a Person: its name."""
    return Markup(f"<{esc(tag)}>\n  {indent(name(value), 2)}\n</{esc(tag)}>")  # noqa: S704 - escaped by esc


ELEMENTS = {
    "cda_ivl_ts": ivl_ts,
    "cda_telecoms": telecoms,
    "cda_name": name,
    "cda_person": person,
    "cda_ii": ii,
    "cda_instance_id": instance_id,
    "cda_code": code,
    "cda_ts": ts,
    "cda_telecom": telecom,
    "cda_pq": pq,
    "cda_pq_text": pq_text,
    "cda_date_text": date_text,
}

__all__ = [
    "ELEMENTS",
    "code",
    "date_text",
    "esc",
    "ii",
    "instance_id",
    "ivl_ts",
    "name",
    "person",
    "pq",
    "pq_text",
    "telecom",
    "telecoms",
    "ts",
]
