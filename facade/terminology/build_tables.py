"""Regenerate the runtime terminology tables (facade/terminology/data/*.json) from the ANS publications.

    python -m facade.terminology.build_tables <conformance-kit> [--out facade/terminology/data]

Inputs (all in the conformance kit): the DMP FHIR ValueSets J57/J58/J59/J61/J62/J66, the CI-SIS J10 formatCode set
(J60-FormatCode-DMP is not published in the kit; J60 is a subset of J10, so J10 is used), the SVS set J01 (author
specialty), and the ConceptMaps ASS_X16 (DMP) / ASS_X04 (CI-SIS) type->class and ASS_A11 templateId->formatCode.
ASS_A12 (N1 media type -> formatCode) is not in the kit: its five rows are spelled out below (spec digest §3.3) and
checked against J10. The product reads only the generated JSON: it runs without the kit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from facade import xmldoc
from facade.terminology.uri_mapper import uri_to_oid

NOS_FHIR = "terminologies/nos-fhir"
JDV = "jeuxDeValeurs"
SVS_NS = "{urn:ihe:iti:svs:2008}"

# ValueSetName value -> (published name, kit file, kind)
VALUE_SETS: dict[str, tuple[str, str, str]] = {
    "typeCode": ("JDV_J66-TypeCode-DMP", f"{NOS_FHIR}/ValueSet-JDV-J66-TypeCode-DMP.json", "fhir"),
    "classCode": ("JDV_J57-ClassCode-DMP", f"{NOS_FHIR}/ValueSet-JDV-J57-ClassCode-DMP.json", "fhir"),
    "formatCode": ("JDV_J10-XdsFormatCode-CISIS", f"{NOS_FHIR}/ValueSet-JDV-J10-XdsFormatCode-CISIS.json", "fhir"),
    "healthcareFacilityTypeCode": (
        "JDV_J61-HealthcareFacilityTypeCode-DMP",
        f"{NOS_FHIR}/ValueSet-JDV-J61-HealthcareFacilityTypeCode-DMP.json",
        "fhir",
    ),
    "practiceSettingCode": (
        "JDV_J62-PracticeSettingCode-DMP",
        f"{NOS_FHIR}/ValueSet-JDV-J62-PracticeSettingCode-DMP.json",
        "fhir",
    ),
    "confidentialityCode": (
        "JDV_J58-ConfidentialityCode-DMP",
        f"{NOS_FHIR}/ValueSet-JDV-J58-ConfidentialityCode-DMP.json",
        "fhir",
    ),
    "authorSpecialty": ("JDV_J01-XdsAuthorSpecialty-CISIS", f"{JDV}/JDV_J01_XdsAuthorSpecialty_CISIS.xml", "svs"),
    "contentTypeCode": ("JDV_J59-ContentTypeCode-DMP", f"{NOS_FHIR}/ValueSet-JDV-J59-ContentTypeCode-DMP.json", "fhir"),
}

# The CI-SIS parents of the DMP sets (for the subset checks in tests/terminology).
PARENTS: dict[str, str] = {
    "typeCode": f"{JDV}/JDV_J07_XdsTypeCode_CISIS.xml",
    "classCode": f"{NOS_FHIR}/ValueSet-JDV-J06-XdsClassCode-CISIS.json",
    "healthcareFacilityTypeCode": f"{JDV}/JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
    "practiceSettingCode": f"{JDV}/JDV_J04_XdsPracticeSettingCode_CISIS.xml",
    "confidentialityCode": f"{JDV}/JDV_J08_XdsConfidentialityCode_CISIS.xml",
}

TYPE_CLASS_MAPS = {
    "ASS_X16": f"{NOS_FHIR}/ConceptMap-ASS-X16-CorrespondanceType-Classe-DMP.json",
    "ASS_X04": f"{NOS_FHIR}/ConceptMap-ASS-X04-CorrespondanceType-Classe-CISIS.json",
}
TEMPLATE_FORMAT_MAP = f"{NOS_FHIR}/ConceptMap-ASS-A11-CorresModeleCDA-XdsFormatCode-CISIS.json"

# ASS_A12 (N1 nonXMLBody mediaType -> formatCode), spec digest §3.3; codes must exist in J10.
MEDIA_TYPE_FORMATS: dict[str, str] = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
}

Concept = dict[str, str]


def _oid(system: str) -> str:
    oid = uri_to_oid(system)
    if oid is None:
        raise ValueError(f"no OID known for code system {system!r}: add it to uri_mapper")
    return oid


def read_fhir_value_set(path: Path) -> tuple[str, str, list[Concept]]:
    """(OID of the value set, version, concepts) of a FHIR ValueSet with an enumerated compose."""
    data = json.loads(path.read_text(encoding="utf-8"))
    identifiers = data.get("identifier") or []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    oid = next((i["value"][8:] for i in identifiers if str(i.get("value", "")).startswith("urn:oid:")), "")
    concepts: list[Concept] = []
    for include in data["compose"]["include"]:
        system = _oid(include["system"])
        for c in include.get("concept", []):
            concepts.append({"system": system, "code": c["code"], "display": c.get("display", "")})
    return oid, str(data.get("version", "")), concepts


def read_svs_value_set(path: Path) -> tuple[str, str, list[Concept]]:
    root = xmldoc.parse(path.read_bytes())
    vs = root.find(f"{SVS_NS}ValueSet")
    if vs is None:
        raise ValueError(f"{path}: no SVS ValueSet")
    concepts = [
        {"system": c.get("codeSystem", ""), "code": c.get("code", ""), "display": c.get("displayName", "")}
        for c in vs.iter(f"{SVS_NS}Concept")
    ]
    return vs.get("id", ""), vs.get("dateMaj", ""), concepts


def read_value_set(path: Path) -> tuple[str, str, list[Concept]]:
    return read_svs_value_set(path) if path.suffix == ".xml" else read_fhir_value_set(path)


def _concept_maps(path: Path) -> list[tuple[str, str, str, str, str]]:
    """(source system OID, source code, target system OID, target code, equivalence) rows of a ConceptMap."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for group in data["group"]:
        source = group.get("source", "")
        src = uri_to_oid(source) or source
        tgt = _oid(group["target"])
        for element in group["element"]:
            for target in element.get("target", []):
                rows.append((src, element["code"], tgt, target["code"], target.get("equivalence", "")))
    return rows


def build(kit: Path) -> dict[str, Any]:
    """All tables as JSON-ready dicts, keyed by output file name."""
    value_sets: dict[str, Any] = {}
    for name, (title, rel, _kind) in VALUE_SETS.items():
        oid, version, concepts = read_value_set(kit / rel)
        value_sets[name] = {"name": title, "oid": oid, "version": version, "source": rel, "concepts": concepts}

    # class displays: J57 first, then the CI-SIS J06 for the X04-only targets
    displays: dict[tuple[str, str], str] = {}
    for rel in (VALUE_SETS["classCode"][1], PARENTS["classCode"]):
        for c in read_value_set(kit / rel)[2]:
            displays.setdefault((c["system"], c["code"]), c["display"])

    type_class: dict[str, Any] = {}
    for map_name, rel in TYPE_CLASS_MAPS.items():
        rows = []
        for src_sys, src_code, tgt_sys, tgt_code, _eq in _concept_maps(kit / rel):
            rows.append([src_sys, src_code, tgt_sys, tgt_code, displays.get((tgt_sys, tgt_code), "")])
        type_class[map_name] = {"source": rel, "rows": rows}

    format_display = {(c["system"], c["code"]): c["display"] for c in value_sets["formatCode"]["concepts"]}
    by_code = {c["code"]: c["system"] for c in value_sets["formatCode"]["concepts"]}
    templates: dict[str, list[list[str]]] = {}
    for _src_sys, template_id, tgt_sys, tgt_code, _eq in _concept_maps(kit / TEMPLATE_FORMAT_MAP):
        row = [tgt_sys, tgt_code, format_display.get((tgt_sys, tgt_code), "")]
        if row not in templates.setdefault(template_id, []):
            templates[template_id].append(row)
    media: dict[str, list[str]] = {}
    for media_type, code in MEDIA_TYPE_FORMATS.items():
        system = by_code.get(code)
        if system is None:
            raise ValueError(f"ASS_A12 formatCode {code} is not in J10")
        media[media_type] = [system, code, format_display[(system, code)]]
    formats = {"ASS_A11": {"source": TEMPLATE_FORMAT_MAP, "templates": templates}, "ASS_A12": media}

    return {"value_sets.json": value_sets, "type_class.json": type_class, "format_maps.json": formats}


def _dump(obj: Any, indent: int = 0) -> str:
    """JSON with one row (concept, map row) per line: reviewable diffs when ANS publishes a new version."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and any(isinstance(v, dict | list) for v in obj.values()):
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and obj and all(isinstance(v, dict | list) for v in obj):
        rows = [pad + json.dumps(v, ensure_ascii=False) for v in obj]
        return "[\n" + ",\n".join(rows) + "\n" + " " * indent + "]"
    return json.dumps(obj, ensure_ascii=False)


def write(tables: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for filename, content in tables.items():
        (out / filename).write_text(_dump(content) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kit", type=Path, help="path of the conformance kit")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args(argv)
    tables = build(args.kit)
    write(tables, args.out)
    print(f"wrote {', '.join(sorted(tables))} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
