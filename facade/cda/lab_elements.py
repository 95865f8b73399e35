"""CR-BIO per-result elements written in Python: a result (observation, battery, isolate) with its code, value,
comments and performing organization, its narrative rows and texts, an address.

The same text as the ``cr-bio/lab.xml.j2`` (and ``_base/macros.xml.j2``, ``addr``) macros they replace, which bind
their names to these functions (the replaced macros are kept in tests/cda/replaced_lab_macros.xml.j2, which the
property tests compare with). Called once or more per result, they were most of the CR-BIO render time as macros
(see ``facade.cda.elements`` for why, and for how values are written); the document, chapter and sub-chapter
structure stays in the templates. The values are ``facade.model.lab`` objects, told apart by class name as the
templates did.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from facade.cda.elements import code, esc, ii, pq, pq_text, telecom, ts
from facade.cda.filters import indent

LOINC = "2.16.840.1.113883.6.1"
COFRAC = "1.2.250.1.213.6.3.1"


def addr(value: Any) -> Markup:
    """AD from an Address: the lines as streetName parts (CI-SISAddr), then postalCode, city, county, country."""
    use = f' use="{esc(value.use)}"' if value.use else ""
    out = [f"<addr{use}>\n"]
    out += [f"  <streetName>{esc(line)}</streetName>\n" for line in value.lines]
    for tag, part in (
        ("postalCode", value.postal_code),
        ("city", value.city),
        ("county", value.county),
        ("country", value.country),
    ):
        if part:
            out.append(f"  <{tag}>{esc(part)}</{tag}>\n")
    out.append("</addr>")
    return Markup("".join(out))  # noqa: S704 - every value escaped by esc


def result_code(c: Any, ref: object) -> Markup:
    """observation/code: LOINC with displayName, else a translation (originalText -> the narrative)."""
    original = f'  <originalText><reference value="#{esc(ref)}"/></originalText>\n'
    if c.system == LOINC:
        head = (
            f'<code code="{esc(c.code)}" displayName="{esc(c.display)}" codeSystem="{esc(c.system)}" '
            'codeSystemName="LOINC">'
        )
        return Markup(f"{head}\n{original}</code>")  # noqa: S704 - every value escaped by esc
    translation = (
        f'  <translation code="{esc(c.code)}" displayName="{esc(c.display)}" codeSystem="{esc(c.system)}"/>\n'
        if c.code and c.system
        else ""
    )
    return Markup(f"<code>\n{original}{translation}</code>")  # noqa: S704 - every value escaped by esc


def value(v: Any, ref: object) -> Markup:
    """observation/value by model type (nothing for an unknown one)."""
    kind = type(v).__name__
    original = f'  <originalText><reference value="#{esc(ref)}-v"/></originalText>\n'
    if kind == "PhysicalQuantity":
        return pq("value", v, "PQ")
    if kind == "CodedValue":
        code = v.code
        attrs = (
            f' code="{esc(code.code)}" displayName="{esc(code.display)}" codeSystem="{esc(code.system)}"'
            if code is not None
            else ""
        )
        text = f'<value xsi:type="CD"{attrs}>\n{original}</value>'
    elif kind == "TextValue":
        text = f'<value xsi:type="ST">{esc(v.text)}</value>'
    elif kind == "RatioValue":
        numerator, denominator = pq("numerator", v.numerator), pq("denominator", v.denominator)
        text = f'<value xsi:type="RTO_PQ_PQ">\n  {numerator}\n  {denominator}\n</value>'
    elif kind == "IntervalValue":
        low = f"  {pq('low', v.low, None, v.low_inclusive)}\n" if v.low is not None else ""
        high = f"  {pq('high', v.high, None, v.high_inclusive)}\n" if v.high is not None else ""
        text = f'<value xsi:type="IVL_PQ">\n{low}{high}</value>'
    elif kind == "NullValue":
        text = f'<value xsi:type="CD" nullFlavor="{esc(v.null_flavor)}">\n{original}</value>'
    else:
        text = ""
    return Markup(text)  # noqa: S704 - every value escaped by esc (or markup from pq)


def value_text(v: Any) -> Markup:
    """A value as the narrative writes it (same wording as facade.mapping.lab.narrative.value_text)."""
    kind = type(v).__name__
    if kind == "PhysicalQuantity":
        return pq_text(v)
    if kind == "CodedValue":
        text = esc(v.text or (v.code.display if v.code is not None else ""))
    elif kind in ("TextValue", "NullValue"):
        text = esc(v.text)
    elif kind == "RatioValue":
        text = f"{pq_text(v.numerator)} / {pq_text(v.denominator)}"
    elif kind == "IntervalValue":
        if v.low is not None and v.high is None:
            text = f"{esc('>=' if v.low_inclusive else '>')} {pq_text(v.low)}"
        elif v.high is not None and v.low is None:
            text = f"{esc('<=' if v.high_inclusive else '<')} {pq_text(v.high)}"
        else:
            text = f"{pq_text(v.low)} - {pq_text(v.high)}"
    else:
        text = ""
    return Markup(text)  # noqa: S704 - every value escaped by esc (or markup from pq_text)


def range_text(rr: Any) -> Markup:
    """A reference range as the narrative writes it: ``(low - high) text``."""
    if rr.low is None and rr.high is None:
        return Markup(esc(rr.text))  # noqa: S704 - escaped by esc
    low = pq_text(rr.low) if rr.low is not None else ""
    high = pq_text(rr.high) if rr.high is not None else ""
    text = f" {esc(rr.text)}" if rr.text else ""
    return Markup(f"({low} - {high}){text}")  # noqa: S704 - every value escaped by esc (or markup from pq_text)


def org(tag: str, o: Any, extra_ids: Any = (), industry: Any = None) -> Markup:
    """An Organization with extra ids (COFRAC) and UNK addr/telecom when unknown."""
    out = [f"<{esc(tag)}>\n  {ii('id', '1.2.250.1.71.4.2.2', o.id_nat)}\n"]
    for i in extra_ids:
        cofrac = ' assigningAuthorityName="COFRAC"' if i.root == COFRAC else ""
        out.append(f'  <id root="{esc(i.root)}" extension="{esc(i.extension)}"{cofrac}/>\n')
    out.append(f"  <name>{esc(o.name)}</name>\n")
    out += [f"  {telecom(t)}\n" for t in o.telecoms] or ['  <telecom nullFlavor="UNK"/>\n']
    out += [f"  {indent(addr(a), 2)}\n" for a in o.addresses] or ['  <addr nullFlavor="UNK"/>\n']
    if industry is not None:
        out.append(f"  {code('standardIndustryClassCode', industry)}\n")
    out.append(f"</{esc(tag)}>")
    return Markup("".join(out))  # noqa: S704 - every value escaped by esc (or markup from the elements)


_COMMENT_ACT = """  <act classCode="ACT" moodCode="EVN">
    <templateId root="2.16.840.1.113883.10.20.1.40"/>
    <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.2"/>
    <templateId root="1.2.250.1.213.1.1.3.32"/>
    <code code="48767-8" displayName="Commentaire" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"/>
    <text><reference value="#{ref}"/></text>
    <statusCode code="completed"/>
  </act>
"""


def comment(ref: object, type_code: object = "SUBJ", inversion: object = True) -> Markup:
    """FR-Commentaire-ER attached to a result (its text is in the narrative)."""
    inverted = ' inversionInd="true"' if inversion else ""
    act = _COMMENT_ACT.format(ref=esc(ref))
    return Markup(f'<entryRelationship typeCode="{esc(type_code)}"{inverted}>\n{act}</entryRelationship>')  # noqa: S704


_OBSERVATION_HEAD = """<observation classCode="OBS" moodCode="EVN">
  <templateId root="1.3.6.1.4.1.19376.1.3.1.6"/>
  <templateId root="1.2.250.1.213.1.1.3.80"/>
"""


def observation(o: Any) -> Markup:
    """A Laboratory Observation (FR-Resultat-examens-de-biologie-medicale), as the content of an entry."""
    out = [
        _OBSERVATION_HEAD,
        f'  {indent(result_code(o.code, o.ref), 2)}\n  <statusCode code="{esc(o.status)}"/>\n',
        f"  {ts('effectiveTime', o.effective)}\n",
    ]
    if o.value is not None:
        out.append(f"  {indent(value(o.value, o.ref), 2)}\n")
    out += [f"  {code('interpretationCode', i)}\n" for i in o.interpretations]
    if o.method is not None:
        out.append(f"  {code('methodCode', o.method)}\n")
    if o.performer is not None:
        represented = indent(org("representedOrganization", o.performer.organization), 6)
        out.append(
            '  <performer typeCode="PRF">\n    <templateId root="1.3.6.1.4.1.19376.1.3.3.1.7"/>\n'
            f'    {ts("time", o.performer.time)}\n    <assignedEntity>\n      <id nullFlavor="UNK"/>\n'
            f"      {represented}\n    </assignedEntity>\n  </performer>\n"
        )
    out += [f"  {indent(comment(f'{o.ref}-n{n}'), 2)}\n" for n in range(1, len(o.notes) + 1)]
    if o.reference_range is not None:
        out.append(_reference_range(o.ref, o.reference_range))
    out.append("</observation>")
    return Markup("".join(out))  # noqa: S704 - every value escaped by esc (or markup from the elements)


def comment_act(ref: object) -> Markup:
    """A comment act as a battery's component (FR-Commentaire-ER, its text in the narrative)."""
    act = _COMMENT_ACT.format(ref=esc(ref)).replace("\n  ", "\n")[2:]  # the entryRelationship's act, unindented
    return Markup(act.rstrip("\n"))  # noqa: S704 - escaped by esc


def result(r: Any) -> Markup:
    """A LabResult (observation, battery or isolate) as the content of an entryRelationship / component."""
    kind = type(r).__name__
    if kind == "LabObservation":
        return observation(r)
    if kind == "LabBattery":
        return _battery(r)
    if kind == "LabIsolate":
        return _isolate(r)
    return Markup("")


def _components(members: Any) -> list[str]:
    return [f"  <component>\n    {indent(result(member), 4)}\n  </component>\n" for member in members]


def _battery(r: Any) -> Markup:
    out = [
        '<organizer classCode="BATTERY" moodCode="EVN">\n  <templateId root="1.3.6.1.4.1.19376.1.3.1.4"/>\n'
        '  <templateId root="1.2.250.1.213.1.1.3.78"/>\n'
    ]
    if r.code is not None:
        out.append(f"  {indent(result_code(r.code, r.ref), 2)}\n")
    else:
        out.append(f'  <code>\n    <originalText><reference value="#{esc(r.ref)}"/></originalText>\n  </code>\n')
    out.append(f'  <statusCode code="{esc(r.status)}"/>\n')
    if r.effective is not None:
        out.append(f"  {ts('effectiveTime', r.effective)}\n")
    out += _components(r.members)
    notes = (comment_act(f"{r.ref}-n{n}") for n in range(1, len(r.notes) + 1))
    out += [f"  <component>\n    {indent(act, 4)}\n  </component>\n" for act in notes]
    out.append("</organizer>")
    return Markup("".join(out))  # noqa: S704 - every value escaped by esc (or markup from the elements)


def _isolate(r: Any) -> Markup:
    out = [
        '<organizer classCode="CLUSTER" moodCode="EVN">\n  <templateId root="1.3.6.1.4.1.19376.1.3.1.5"/>\n'
        f'  <templateId root="1.2.250.1.213.1.1.3.79"/>\n  <statusCode code="{esc(r.status)}"/>\n'
    ]
    if r.effective is not None:
        out.append(f"  {ts('effectiveTime', r.effective)}\n")
    organism = r.organism
    out.append(
        '  <specimen typeCode="SPC">\n    <specimenRole classCode="SPEC">\n'
        '      <specimenPlayingEntity classCode="MIC">\n'
        f'        <code code="{esc(organism.code)}" displayName="{esc(organism.display)}" '
        f'codeSystem="{esc(organism.system)}">\n'
        f'          <originalText><reference value="#{esc(r.ref)}"/></originalText>\n        </code>\n'
        "      </specimenPlayingEntity>\n    </specimenRole>\n  </specimen>\n"
    )
    out += _components(r.members)
    out.append("</organizer>")
    return Markup("".join(out))  # noqa: S704 - every value escaped by esc (or markup from the elements)


def result_rows(r: Any, depth: int = 0) -> Markup:
    """The narrative rows of a result (td contents reference the entries through content/@ID)."""
    pad = "  " * depth
    ref = esc(r.ref)
    notes = [
        f'<tr>\n  <td colspan="4"><content ID="{ref}-n{n}">{esc(note)}</content></td>\n</tr>\n'
        for n, note in enumerate(getattr(r, "notes", ()), start=1)
    ]
    kind = type(r).__name__
    if kind != "LabObservation":
        isolate = "Isolat : " if kind == "LabIsolate" else ""
        label = f"{pad}{isolate}{esc(r.label)}"
        out = [f'<tr>\n  <td colspan="4"><content styleCode="Bold" ID="{ref}">{label}</content></td>\n</tr>\n']
        out += [f"{result_rows(member, depth + 1)}\n" for member in r.members]
        out += notes if kind == "LabBattery" else []
        return Markup("".join(out))  # noqa: S704 - every value escaped by esc (or markup from the elements)
    shown = value_text(r.value) if r.value is not None else ""
    if type(r.value).__name__ in ("CodedValue", "NullValue"):
        shown = f'<content ID="{ref}-v">{shown}</content>'
    interpretations = esc(", ".join(str(i.display) for i in r.interpretations))  # Jinja's map/join, then {{ }}
    rr = r.reference_range
    reference = "" if rr is None else str(range_text(rr))
    if rr is not None and rr.text:
        reference = f'<content ID="{ref}-rr">{reference}</content>'
    row = (
        f'<tr>\n  <td>{pad}<content ID="{ref}">{esc(r.label)}</content></td>\n  <td>{shown}</td>\n'
        f"  <td>{interpretations}</td>\n  <td>{reference}</td>\n</tr>\n"
    )
    return Markup(row + "".join(notes))  # noqa: S704 - every value escaped by esc (or markup from the elements)


def _reference_range(ref: object, rr: Any) -> str:
    out = ['  <referenceRange typeCode="REFV">\n    <observationRange classCode="OBS" moodCode="EVN.CRT">\n']
    if rr.text:
        out.append(f'      <text><reference value="#{esc(ref)}-rr"/></text>\n')
    if rr.low is not None or rr.high is not None:
        out.append('      <value xsi:type="IVL_PQ">\n')
        if rr.low is not None:
            out.append(f"        {pq('low', rr.low)}\n")
        if rr.high is not None:
            out.append(f"        {pq('high', rr.high)}\n")
        out.append("      </value>\n")
    out.append(
        '      <interpretationCode code="N" displayName="Normal" codeSystem="2.16.840.1.113883.5.83"/>\n'
        "    </observationRange>\n  </referenceRange>\n"
    )
    return "".join(out)


LAB_ELEMENTS = {
    "cda_org": org,
    "cda_comment": comment,
    "cda_observation": observation,
    "cda_comment_act": comment_act,
    "cda_result": result,
    "cda_result_rows": result_rows,
    "cda_addr": addr,
    "cda_result_code": result_code,
    "cda_value": value,
    "cda_value_text": value_text,
    "cda_range_text": range_text,
}

__all__ = [
    "LAB_ELEMENTS",
    "addr",
    "comment",
    "comment_act",
    "observation",
    "org",
    "range_text",
    "result",
    "result_code",
    "result_rows",
    "value",
    "value_text",
]
