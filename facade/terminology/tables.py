"""Runtime terminology: the DMP value sets and NOS correspondence tables the facade codes against.

The tables are package data (``facade/terminology/data/*.json``), generated from the ANS publications by
``facade.terminology.build_tables`` and shipped with the product, which therefore runs without the conformance kit.
Every ``Code`` returned carries the OID form of its system (CDA codeSystem / XDS codingScheme) and the published
display name.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from facade.model.document import Code
from facade.terminology.uri_mapper import oid_to_uri, uri_to_oid


class ValueSetName(StrEnum):
    TYPE_CODE = "typeCode"  # JDV_J66-TypeCode-DMP (⊂ J07)
    CLASS_CODE = "classCode"  # JDV_J57-ClassCode-DMP (⊂ J06)
    FORMAT_CODE = "formatCode"  # JDV_J60-FormatCode-DMP / J10 (J60 is not published in the kit: J10 is used)
    FACILITY_TYPE = "healthcareFacilityTypeCode"  # JDV_J61 (⊂ J02)
    PRACTICE_SETTING = "practiceSettingCode"  # JDV_J62 (⊂ J04)
    CONFIDENTIALITY = "confidentialityCode"  # JDV_J58 (⊂ J08) incl. DMP masking codes MASQUE_PS...
    AUTHOR_SPECIALTY = "authorSpecialty"  # JDV_J01 (G15_10/SM26 ...)
    CONTENT_TYPE = "contentTypeCode"  # JDV_J59


@dataclass(frozen=True)
class ValueSetInfo:
    """Where a value set comes from (for messages and audits)."""

    name: str  # published name, e.g. JDV_J66-TypeCode-DMP
    oid: str
    version: str


# The N1 (XDS-SD) model templateId maps to five formatCodes in ASS_A11: the media type decides (ASS_A12).
XDS_SD_TEMPLATE_ID = "1.3.6.1.4.1.19376.1.2.20"

_DATA = "data"
_lock = threading.Lock()
_cache: dict[Path | None, Terminology] = {}


def _read_json(data_dir: Path | None, name: str) -> Any:
    if data_dir is not None:
        return json.loads((data_dir / name).read_text(encoding="utf-8"))
    return json.loads(resources.files("facade.terminology").joinpath(_DATA, name).read_text(encoding="utf-8"))


class Terminology:
    """Immutable after construction; safe to share between threads."""

    def __init__(self, value_sets: dict[str, Any], type_class: dict[str, Any], formats: dict[str, Any]) -> None:
        self._info: dict[ValueSetName, ValueSetInfo] = {}
        self._by_key: dict[ValueSetName, dict[tuple[str, str], Code]] = {}
        self._by_code: dict[ValueSetName, dict[str, list[Code]]] = {}
        self._ordered: dict[ValueSetName, list[Code]] = {}
        for vs in ValueSetName:
            raw = value_sets[vs.value]
            self._info[vs] = ValueSetInfo(raw["name"], raw["oid"], raw["version"])
            codes = [Code(c["code"], c["system"], c["display"]) for c in raw["concepts"]]
            self._ordered[vs] = codes
            self._by_key[vs] = {(c.system, c.code): c for c in codes}
            by_code: dict[str, list[Code]] = {}
            for c in codes:
                by_code.setdefault(c.code, []).append(c)
            self._by_code[vs] = by_code

        # type (system, code) -> class Code; ASS_X16 (DMP) wins over ASS_X04 (CI-SIS)
        self._type_class: dict[tuple[str, str], Code] = {}
        for map_name in ("ASS_X16", "ASS_X04"):
            for src_sys, src_code, tgt_sys, tgt_code, display in type_class[map_name]["rows"]:
                self._type_class.setdefault((src_sys, src_code), Code(tgt_code, tgt_sys, display))

        self._template_formats: dict[str, list[Code]] = {
            template_id: [Code(code, system, display) for system, code, display in rows]
            for template_id, rows in formats["ASS_A11"]["templates"].items()
        }
        self._media_formats: dict[str, Code] = {
            media: Code(code, system, display) for media, (system, code, display) in formats["ASS_A12"].items()
        }

    @classmethod
    def load(cls, data_dir: Path | None = None) -> Terminology:
        """The packaged tables (or those in ``data_dir``), read once per process."""
        with _lock:
            cached = _cache.get(data_dir)
            if cached is None:
                cached = cls(
                    _read_json(data_dir, "value_sets.json"),
                    _read_json(data_dir, "type_class.json"),
                    _read_json(data_dir, "format_maps.json"),
                )
                _cache[data_dir] = cached
            return cached

    def info(self, vs: ValueSetName) -> ValueSetInfo:
        return self._info[vs]

    def codes(self, vs: ValueSetName) -> list[Code]:
        """The members of a value set, in published order."""
        return list(self._ordered[vs])

    def lookup(self, vs: ValueSetName, code: str, system: str | None = None) -> Code | None:
        """The member of ``vs`` with this code. ``system`` may be an OID, ``urn:oid:<OID>``, a FHIR canonical URI or
        None (any system of the value set; None when the code is ambiguous across systems). Codes are case-sensitive."""
        if system is None:
            matches = self._by_code[vs].get(code, [])
            return matches[0] if len(matches) == 1 else None
        oid = uri_to_oid(system)
        if oid is None:
            return None
        return self._by_key[vs].get((oid, code))

    def contains(self, vs: ValueSetName, code: Code) -> bool:
        return (code.system, code.code) in self._by_key[vs]

    def accepted(self, vs: ValueSetName) -> list[str]:
        """``system|code`` of every member, with the FHIR URI of the system (for OperationOutcome messages)."""
        return [f"{oid_to_uri(c.system)}|{c.code}" for c in self._ordered[vs]]

    def class_for_type(self, type_code: Code) -> Code | None:
        """XDS classCode for a typeCode: ASS_X16 (DMP) first, then ASS_X04 (CI-SIS). ``type_code.system`` may be
        an OID or a FHIR URI."""
        system = uri_to_oid(type_code.system) or type_code.system
        return self._type_class.get((system, type_code.code))

    def format_for_media_type(self, media_type: str) -> Code | None:
        """N1 formatCode for the nonXMLBody media type (ASS_A12): application/pdf -> urn:ihe:iti:xds-sd:pdf:2008 ..."""
        base = media_type.split(";", 1)[0].strip().lower()
        return self._media_formats.get(base)

    def format_for_template(self, template_id: str) -> Code | None:
        """formatCode for a CDA model templateId (ASS_A11); None when unknown or ambiguous (the XDS-SD template:
        use ``format_for_media_type``)."""
        codes = self._template_formats.get(template_id, [])
        return codes[0] if len(codes) == 1 else None

    @property
    def media_types(self) -> frozenset[str]:
        """Media types an N1 document may embed."""
        return frozenset(self._media_formats)


__all__ = ["Terminology", "ValueSetInfo", "ValueSetName", "XDS_SD_TEMPLATE_ID", "oid_to_uri", "uri_to_oid"]
