"""The document-type catalogue and the lab chapter table, read from package data.

``data/document_types.csv``: one row per document type the facade sends to the DMP (typeCode = CDA ``code``,
classCode from ASS_X16, allowed level-1 media types, level-3 template folder + model templateIds + formatCode
from ASS_A11, the kit's volet schematron alias). Adding a type is adding a row (and, for level 3, a folder under
``templates/cda/``). ``conformance/catalogue.md`` is generated from it (``python -m facade.terminology.catalogue``).

``data/lab_chapters.csv``: LOINC result code -> CR-BIO chapter (and sub-chapter) LOINC codes; rows keyed
``v2-0074|<code>`` map a DiagnosticReport.category (HL7 v2 diagnostic service section) to a chapter; the ``*`` row
is the fallback chapter for codes the table does not know.

``data/lab_interpretations.csv``: JDV_HL7_ObservationInterpretation-CISIS (the CR-BIO schematron checks
membership): HL7 v3 ObservationInterpretation code -> the French display sent in the CDA.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from facade.model import oids
from facade.model.document import Code, InstanceId

LOINC_OID = oids.LOINC
CLASS_OID = oids.TRE_A03_CLASSE_DOCUMENT  # XDS classCode codingScheme
IHE_FORMAT_OID = oids.TRE_A11_IHE_FORMAT_CODE
CISIS_FORMAT_OID = oids.TRE_A06_FORMAT_CODE_COMPLEMENTAIRE
_N1_FORMATS = {  # ASS_A12: nonXMLBody/text/@mediaType -> formatCode (TRE_A11)
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
}
V2_0074_SYSTEMS = frozenset({"http://terminology.hl7.org/CodeSystem/v2-0074", "urn:oid:2.16.840.1.113883.18.55"})


@dataclass(frozen=True)
class DocumentType:
    """One catalogue row (see module docstring)."""

    key: str
    type_code: Code  # CDA code / XDS typeCode (JDV_J66)
    class_code: Code  # XDS classCode (JDV_J57, ASS_X16)
    title: str  # default CDA title (fixed by the volet for CR-BIO)
    n1_media_types: tuple[str, ...]
    level3_template: str | None  # folder under templates/cda/ when the facade renders level 3
    model_template_ids: tuple[InstanceId, ...]  # header templateIds of the CI-SIS level-3 model
    n3_format_code: Code | None
    volet_type: str | None  # validate.py --type alias of the volet schematron
    source: str

    def n1_format_code(self, media_type: str) -> Code | None:
        """formatCode of a level-1 document of this type (ASS_A12), None when the media type is not allowed."""
        if media_type not in self.n1_media_types:
            return None
        return Code(_N1_FORMATS[media_type], IHE_FORMAT_OID, _N1_FORMATS[media_type])


@dataclass(frozen=True)
class ChapterEntry:
    """Where a lab result goes: chapter (+ optional sub-chapter), and the French display of the analyte."""

    display: str | None
    chapter: Code
    sub_chapter: Code | None


def _format_code(value: str) -> Code | None:
    if not value:
        return None
    oid = IHE_FORMAT_OID if value.startswith("urn:ihe:") else CISIS_FORMAT_OID
    return Code(value, oid, value)


def _template_ids(value: str) -> tuple[InstanceId, ...]:
    ids = []
    for token in value.split():
        root, _, ext = token.partition("@")
        ids.append(InstanceId(root, ext or None))
    return tuple(ids)


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("facade.terminology").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


class Catalogue:
    """Read-only view of the two tables. Build with ``Catalogue.load()`` (cached per process)."""

    def __init__(self, types: list[DocumentType], chapters: dict[str, ChapterEntry]) -> None:
        self.types = tuple(types)
        self._by_key = {t.key: t for t in types}
        self._by_code = {(t.type_code.system, t.type_code.code): t for t in types}
        self._chapters = chapters
        if "*" not in chapters:
            raise ValueError("lab_chapters.csv has no fallback row '*'")

    @classmethod
    def load(cls) -> Catalogue:
        return _load_catalogue()

    # --- document types ---
    def by_key(self, key: str) -> DocumentType | None:
        return self._by_key.get(key)

    def by_type_code(self, code: str, system_oid: str | None = None) -> DocumentType | None:
        """The row for a typeCode; ``system_oid`` None matches any system."""
        if system_oid is not None:
            return self._by_code.get((system_oid, code))
        return next((t for t in self.types if t.type_code.code == code), None)

    # --- lab chapters ---
    def chapter_for(self, loinc: str) -> ChapterEntry | None:
        """The table entry of a LOINC result/panel code; None when unknown (the caller warns and falls back)."""
        return self._chapters.get(loinc) if not loinc.startswith(("*", "v2-0074|")) else None

    def chapter_for_category(self, code: str) -> ChapterEntry | None:
        """Chapter of a DiagnosticReport.category coded in HL7 v2 table 0074 (HM, CH, MB ...)."""
        return self._chapters.get(f"v2-0074|{code}")

    @property
    def fallback_chapter(self) -> ChapterEntry:
        return self._chapters["*"]

    @property
    def interpretations(self) -> dict[str, str]:
        """JDV_HL7_ObservationInterpretation-CISIS: code -> French display (``data/lab_interpretations.csv``)."""
        return _interpretations()

    def known_loinc_codes(self) -> frozenset[str]:
        return frozenset(k for k in self._chapters if not k.startswith(("*", "v2-0074|")))


@lru_cache(maxsize=1)
def _load_catalogue() -> Catalogue:
    types = []
    for row in _read_csv("document_types.csv"):
        types.append(
            DocumentType(
                key=row["key"],
                type_code=Code(row["type_code"], row["type_system"], row["type_display"]),
                class_code=Code(row["class_code"], CLASS_OID, row["class_display"]),
                title=row["title"],
                n1_media_types=tuple(row["n1_media_types"].split()),
                level3_template=row["level3_template"] or None,
                model_template_ids=_template_ids(row["model_template_ids"]),
                n3_format_code=_format_code(row["n3_format_code"]),
                volet_type=row["volet_type"] or None,
                source=row["source"],
            )
        )
    chapters: dict[str, ChapterEntry] = {}
    for row in _read_csv("lab_chapters.csv"):
        sub = row["sub_chapter_code"]
        chapters[row["key"]] = ChapterEntry(
            display=row["display"] or None,
            chapter=Code(row["chapter_code"], LOINC_OID, row["chapter_display"]),
            sub_chapter=Code(sub, LOINC_OID, row["sub_chapter_display"]) if sub else None,
        )
    return Catalogue(types, chapters)


@lru_cache(maxsize=1)
def _interpretations() -> dict[str, str]:
    return {row["code"]: row["display"] for row in _read_csv("lab_interpretations.csv")}


def render_markdown(catalogue: Catalogue) -> str:
    """``conformance/catalogue.md``: the catalogue as a table (generated; a test keeps it in sync)."""
    lines = [
        "# Document types sent to the DMP",
        "",
        "Generated from `facade/terminology/data/document_types.csv` by `python -m facade.terminology.catalogue`;",
        "do not edit by hand. Every type works at level 1 (structuration minimale, `nonXMLBody`) with the media",
        "types listed; the types with a template folder are also rendered at level 3 by the facade.",
        "typeCode = CDA `code` (JDV_J66), classCode from ASS_X16 (TRE_A03), formatCode from ASS_A11 (level 3) /",
        "ASS_A12 (level 1). The level-1 example bundles are in `conformance/bundles/catalogue/`.",
        "",
        "| key | typeCode | display | classCode | level-1 media types (formatCode) | level-3 model templateIds "
        "| level-3 formatCode | rendered at level 3 | volet schematron | source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in catalogue.types:
        media = "<br>".join(f"`{m}` ({_N1_FORMATS[m]})" for m in t.n1_media_types)
        tids = "<br>".join(
            f"`{i.root}`" + (f" ext `{i.extension}`" if i.extension else "") for i in t.model_template_ids
        )
        lines.append(
            f"| {t.key} | `{t.type_code.code}` ({t.type_code.system}) | {t.type_code.display} "
            f"| `{t.class_code.code}` {t.class_code.display} | {media} | {tids or '—'} "
            f"| {('`' + t.n3_format_code.code + '`') if t.n3_format_code else '—'} "
            f"| {('`templates/cda/' + t.level3_template + '/`') if t.level3_template else 'no (level 1 only)'} "
            f"| {('`' + t.volet_type + '`') if t.volet_type else '—'} | {t.source} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    print(render_markdown(Catalogue.load()), end="")

__all__ = ["Catalogue", "ChapterEntry", "DocumentType", "render_markdown"]
