"""Terminology tables: behaviour of the lookups (no kit needed) and provenance checks against the ANS publications
in the conformance kit (skipped cleanly without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facade.model.document import Code
from facade.terminology import build_tables
from facade.terminology.tables import XDS_SD_TEMPLATE_ID, Terminology, ValueSetName
from facade.terminology.uri_mapper import oid_to_uri, uri_to_oid

LOINC = "2.16.840.1.113883.6.1"
A05_URI = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"


@pytest.fixture(scope="module")
def term() -> Terminology:
    return Terminology.load()


# --- URI <-> OID ---


@pytest.mark.parametrize(
    ("system", "oid"),
    [
        ("http://loinc.org", LOINC),
        ("urn:oid:2.16.840.1.113883.6.1", LOINC),
        (LOINC, LOINC),
        ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "2.16.840.1.113883.5.25"),
        (A05_URI, "1.2.250.1.213.1.1.4.12"),
        ("https://smt.esante.gouv.fr/fhir/CodeSystem/tre-a05-typedoccomplementaire", "1.2.250.1.213.1.1.4.12"),
        (
            "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument",
            "1.2.250.1.213.1.1.4.13",
        ),
        ("https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "1.2.250.1.71.4.2.4"),
        ("https://mos.esante.gouv.fr/NOS/TRE_R209-TypeActivite/FHIR/TRE-R209-TypeActivite", "1.2.250.1.213.2.2"),
        ("URN", "URN"),
    ],
)
def test_uri_to_oid(system: str, oid: str) -> None:
    assert uri_to_oid(system) == oid


@pytest.mark.parametrize(
    "system", ["", "http://example.org/cs", "urn:oid:not-an-oid", "https://mos.esante.gouv.fr/NOS/TRE_Z99-X", "1.02.3"]
)
def test_uri_to_oid_unknown(system: str) -> None:
    assert uri_to_oid(system) is None


def test_oid_to_uri_prefers_canonical_uris() -> None:
    assert oid_to_uri(LOINC) == "http://loinc.org"
    assert oid_to_uri("2.16.840.1.113883.5.25") == "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    assert oid_to_uri("1.2.250.1.213.1.1.4.12") == A05_URI
    assert oid_to_uri("1.2.3.4") == "urn:oid:1.2.3.4"
    for oid in (LOINC, "1.2.250.1.213.1.1.4.12", "1.2.250.1.213.1.1.4.13", "1.2.3.4"):
        assert uri_to_oid(oid_to_uri(oid)) == oid


# --- lookups ---


def test_lookup_by_any_system_form(term: Terminology) -> None:
    for system in ("http://loinc.org", LOINC, f"urn:oid:{LOINC}", None):
        code = term.lookup(ValueSetName.TYPE_CODE, "11490-0", system)
        assert code == Code("11490-0", LOINC, "Lettre de liaison à la sortie d'un établissement de soins")
    synth = term.lookup(ValueSetName.TYPE_CODE, "SYNTH", A05_URI)
    assert synth is not None and synth.system == "1.2.250.1.213.1.1.4.12"


def test_lookup_rejects_wrong_system_or_set(term: Terminology) -> None:
    assert term.lookup(ValueSetName.TYPE_CODE, "11490-0", A05_URI) is None  # right code, wrong system
    assert term.lookup(ValueSetName.TYPE_CODE, "11490-0", "http://example.org") is None
    assert term.lookup(ValueSetName.CLASS_CODE, "11490-0") is None  # a type is not a class
    assert term.lookup(ValueSetName.TYPE_CODE, "27899-4", LOINC) is None  # in ASS_X04 but not in J66
    assert term.lookup(ValueSetName.CONFIDENTIALITY, "n") is None  # codes are case-sensitive


def test_dmp_masking_codes(term: Terminology) -> None:
    codes = {(c.system, c.code) for c in term.codes(ValueSetName.CONFIDENTIALITY)}
    assert ("1.2.250.1.213.1.1.4.13", "MASQUE_PS") in codes
    assert ("1.2.250.1.213.1.1.4.13", "INVISIBLE_PATIENT") in codes
    assert ("2.16.840.1.113883.5.25", "N") in codes


def test_accepted_lists_fhir_uris(term: Terminology) -> None:
    accepted = term.accepted(ValueSetName.CONFIDENTIALITY)
    assert "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N" in accepted
    assert len(accepted) == len(term.codes(ValueSetName.CONFIDENTIALITY))


@pytest.mark.parametrize(
    ("type_code", "class_code"),
    # pairs evidenced by the GIE TD3.1 response (spec digest §3.4)
    [("11490-0", "10"), ("11502-2", "10"), ("34133-9", "11"), ("29551-9", "42"), ("29550-1", "43"), ("52040-3", "31")],
)
def test_class_for_type_loinc(term: Terminology, type_code: str, class_code: str) -> None:
    cls = term.class_for_type(Code(type_code, "http://loinc.org", ""))
    assert cls is not None and cls.code == class_code and cls.system == "1.2.250.1.213.1.1.4.1"
    assert cls.display


def test_class_for_type_a05_and_astm(term: Terminology) -> None:
    synth = term.class_for_type(Code("SYNTH", "1.2.250.1.213.1.1.4.12", ""))
    assert synth is not None and synth.code == "11"
    cert = term.class_for_type(Code("CERT_DECL", A05_URI, ""))
    assert cert is not None and cert.code == "52"
    sig = term.class_for_type(Code("E1762", "ASTM", ""))
    assert sig == Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", sig.display if sig else "")
    assert term.class_for_type(Code("99999-9", LOINC, "")) is None


def test_class_for_type_falls_back_to_x04(term: Terminology) -> None:
    # 27899-4 is only in the CI-SIS ASS_X04 (not in the DMP ASS_X16)
    cls = term.class_for_type(Code("27899-4", LOINC, ""))
    assert cls is not None and cls.code == "10"


@pytest.mark.parametrize(
    ("media_type", "format_code"),
    [
        ("application/pdf", "urn:ihe:iti:xds-sd:pdf:2008"),
        ("text/plain", "urn:ihe:iti:xds-sd:text:2008"),
        ("text/plain; charset=UTF-8", "urn:ihe:iti:xds-sd:text:2008"),
        ("text/rtf", "urn:ihe:iti-fr:xds-sd:rtf:2010"),
        ("image/jpeg", "urn:ihe:iti-fr:xds-sd:jpeg:2010"),
        ("IMAGE/TIFF", "urn:ihe:iti-fr:xds-sd:tiff:2010"),
    ],
)
def test_format_for_media_type(term: Terminology, media_type: str, format_code: str) -> None:
    fmt = term.format_for_media_type(media_type)
    assert fmt is not None and fmt.code == format_code and fmt.system == "1.3.6.1.4.1.19376.1.2.3"
    assert term.contains(ValueSetName.FORMAT_CODE, fmt)


def test_format_for_media_type_unknown(term: Terminology) -> None:
    assert term.format_for_media_type("application/msword") is None
    assert term.media_types == {"application/pdf", "text/plain", "text/rtf", "image/jpeg", "image/tiff"}


def test_format_for_template(term: Terminology) -> None:
    lab = term.format_for_template("1.2.250.1.213.1.1.1.55")
    assert lab is not None and lab.code == "urn:ihe:lab:xd-lab:2008"
    ldl = term.format_for_template("1.2.250.1.213.1.1.1.29")
    assert ldl is not None and ldl.code == "urn:asip:ci-sis:ldl-ses:2017" and ldl.system == "1.2.250.1.213.1.1.4.2.282"
    assert term.format_for_template(XDS_SD_TEMPLATE_ID) is None  # five N1 formats: the media type decides
    assert term.format_for_template("1.2.3") is None


def test_load_is_cached(term: Terminology) -> None:
    assert Terminology.load() is term


# --- provenance: the packaged tables are exactly what the ANS publications give ---


def test_packaged_tables_are_up_to_date(kit_path: Path, tmp_path: Path) -> None:
    build_tables.write(build_tables.build(kit_path), tmp_path)
    packaged = Path(build_tables.__file__).parent / "data"
    for name in ("value_sets.json", "type_class.json", "format_maps.json"):
        assert (tmp_path / name).read_bytes() == (packaged / name).read_bytes(), f"{name}: rerun build_tables"


@pytest.mark.parametrize("vs", list(ValueSetName))
def test_every_code_exists_in_the_published_set(kit_path: Path, term: Terminology, vs: ValueSetName) -> None:
    _title, rel, _kind = build_tables.VALUE_SETS[vs.value]
    oid, _version, published = build_tables.read_value_set(kit_path / rel)
    published_keys = {(c["system"], c["code"]) for c in published}
    ours = term.codes(vs)
    assert ours, f"{vs} is empty"
    assert term.info(vs).oid == oid
    missing = [c for c in ours if (c.system, c.code) not in published_keys]
    assert not missing


# Known ANS inconsistency: J61 (2024) lists SA11, absent from the kit's older J02 snapshot.
KNOWN_NOT_IN_PARENT = {("healthcareFacilityTypeCode", "1.2.250.1.71.4.2.4", "SA11")}


@pytest.mark.parametrize("vs", sorted(build_tables.PARENTS))
def test_dmp_sets_are_subsets_of_the_cisis_sets(kit_path: Path, term: Terminology, vs: str) -> None:
    parent = {(c["system"], c["code"]) for c in build_tables.read_value_set(kit_path / build_tables.PARENTS[vs])[2]}
    outside = {
        (c.system, c.code) for c in term.codes(ValueSetName(vs)) if (vs, c.system, c.code) not in KNOWN_NOT_IN_PARENT
    } - parent
    assert not outside


def test_class_map_targets_are_dmp_classes(kit_path: Path, term: Terminology) -> None:
    for c in term.codes(ValueSetName.TYPE_CODE):
        cls = term.class_for_type(c)
        if cls is None:
            continue  # e.g. 101881-1 (Carte d'implant): J66 member without a published ASS_X16/X04 row
        assert term.contains(ValueSetName.CLASS_CODE, cls), (c, cls)


def test_media_type_formats_are_in_j10(kit_path: Path, term: Terminology) -> None:
    _oid, _v, j10 = build_tables.read_value_set(kit_path / build_tables.VALUE_SETS["formatCode"][1])
    keys = {(c["system"], c["code"]) for c in j10}
    for media_type in term.media_types:
        fmt = term.format_for_media_type(media_type)
        assert fmt is not None and (fmt.system, fmt.code) in keys
