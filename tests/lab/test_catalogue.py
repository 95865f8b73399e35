"""The document-type catalogue and the lab chapter table (package data), checked against the kit's NOS tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from facade.mapping.lab.pdf import text_pdf
from facade.terminology.catalogue import Catalogue, render_markdown

from .conftest import ROOT

REQUIRED = {  # issue 4 §2: type -> (typeCode, classCode)
    "ldl-ses": ("11490-0", "10"),
    "ordonnance": ("57833-6", "42"),
    "cr-operatoire": ("34874-8", "10"),
    "cr-bio": ("11502-2", "10"),
    "cr-imagerie": ("18748-4", "31"),
    "dlu": ("74207-2", "11"),
    "vsm": ("SYNTH", "11"),
    "cr-consultation": ("11488-4", "10"),
    "cr-hospitalier": ("34112-3", "10"),
    "cr-urgences": ("15507-7", "10"),
}


@pytest.mark.parametrize(("key", "codes"), sorted(REQUIRED.items()))
def test_required_types_are_in_the_catalogue(catalogue: Catalogue, key: str, codes: tuple[str, str]) -> None:
    row = catalogue.by_key(key)
    assert row is not None
    assert (row.type_code.code, row.class_code.code) == codes
    assert catalogue.by_type_code(codes[0]) is row
    pdf = row.n1_format_code("application/pdf")
    assert pdf is not None and pdf.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert row.n1_format_code("application/zip") is None


def test_cr_bio_row_matches_the_volet(catalogue: Catalogue) -> None:
    row = catalogue.by_key("cr-bio")
    assert row is not None and row.level3_template == "cr-bio"
    assert (row.type_code.display, row.title) == ("CR d'examens biologiques", "Compte rendu d'examens biologiques")
    assert row.n3_format_code is not None and row.n3_format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert (ROOT / "templates" / "cda" / "cr-bio" / "document.xml.j2").is_file()


def _concepts(path: Path) -> dict[str, list[dict[str, object]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data  # type: ignore[no-any-return]


@pytest.mark.conformance
def test_catalogue_codes_agree_with_the_kit_nos_tables(catalogue: Catalogue, kit_path: Path) -> None:
    nos = kit_path / "terminologies" / "nos-fhir"
    j66 = json.loads((nos / "ValueSet-JDV-J66-TypeCode-DMP.json").read_text(encoding="utf-8"))
    types = {c["code"] for inc in j66["compose"]["include"] for c in inc.get("concept", [])}
    x16 = json.loads((nos / "ConceptMap-ASS-X16-CorrespondanceType-Classe-DMP.json").read_text(encoding="utf-8"))
    classes = {e["code"]: e["target"][0]["code"] for g in x16["group"] for e in g["element"]}
    a11 = json.loads((nos / "ConceptMap-ASS-A11-CorresModeleCDA-XdsFormatCode-CISIS.json").read_text(encoding="utf-8"))
    formats = {e["code"]: e["target"][0]["code"] for g in a11["group"] for e in g["element"]}
    for row in catalogue.types:
        assert row.type_code.code in types, row.key
        assert classes[row.type_code.code] == row.class_code.code, row.key
        if row.n3_format_code is not None:
            mapped = {formats[t.root] for t in row.model_template_ids if t.root in formats}
            assert mapped == {row.n3_format_code.code}, row.key


def test_published_catalogue_is_generated_from_the_csv(catalogue: Catalogue) -> None:
    published = (ROOT / "conformance" / "catalogue.md").read_text(encoding="utf-8")
    assert published == render_markdown(catalogue), (
        "run: python -m facade.terminology.catalogue > conformance/catalogue.md"
    )


def test_every_catalogue_type_has_a_level1_example(catalogue: Catalogue) -> None:
    examples = {p.stem for p in (ROOT / "conformance" / "bundles" / "catalogue").glob("*.json")}
    assert examples == {t.key for t in catalogue.types}


def test_chapter_table(catalogue: Catalogue) -> None:
    entry = catalogue.chapter_for("2823-3")
    assert entry is not None and entry.chapter.code == "18719-5"
    assert entry.sub_chapter is not None and entry.sub_chapter.code == "24326-1"
    assert catalogue.chapter_for("99999-9") is None
    assert catalogue.chapter_for("*") is None  # the fallback row is not a LOINC code
    hm = catalogue.chapter_for_category("HM")
    assert hm is not None and hm.chapter.code == "18723-7"
    assert catalogue.fallback_chapter.chapter.code == "18719-5"
    loinc = re.compile(r"^\d{1,6}-\d$")
    assert all(loinc.match(code) for code in catalogue.known_loinc_codes())


def test_generated_pdf_is_well_formed_and_paginated() -> None:
    pdf = text_pdf("Titre (é)", [f"Ligne {i} : à \\ ( )" for i in range(120)])
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    assert b"/Count 3" in pdf  # 122 lines at 57 lines per page
    start = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[start:].startswith(b"xref\n")
    table = pdf[start:].split(b"\n")
    count = int(table[1].split()[1])
    for number in range(1, count):
        offset = int(table[2 + number].split()[0])
        assert pdf[offset:].startswith(f"{number} 0 obj".encode())
    assert "Titre (é)".encode("cp1252").replace(b"(", b"\\(").replace(b")", b"\\)") in pdf
