"""A ready-made CDA header agreeing with ``conformance/bundles/ldl-ses/pdf-discharge-letter.json`` (patient MARTIN,
author/authenticator 810101201234, dates, facility, practice setting): each keyword changes one header value."""

from __future__ import annotations

HEADER = {
    "doc_id": "1.2.250.1.999.1.1.100.1",
    "id_extension": None,
    "code": "11490-0",
    "title": "Lettre de liaison à la sortie - cardiologie",
    "effective": "20260302173000+0100",
    "confidentiality": "N",
    "language": "fr-FR",
    "set_id": "1.2.250.1.999.1.1.300.9",
    "version": "1",
    "ins": "185076912345673",
    "ins_oid": "1.2.250.1.213.1.4.10",
    "gender": "M",
    "birth": "19850714",
    "family": "MARTIN",
    "author_id": "810101201234",
    "legal_id": "810101201234",
    "low": "20260224093000+0100",
    "high": "20260302160000+0100",
    "facility": "SA01",
    "practice": "ETABLISSEMENT",
    "prolog": "",
    "model": '<templateId root="1.2.250.1.213.1.1.1.29" extension="2022.01"/>',
    "author_entity": None,
    "body": '<component><nonXMLBody><text mediaType="application/pdf" representation="B64">JVBERi0xLjQK</text>'
    "</nonXMLBody></component>",
}

PERSON = "<assignedPerson><name><prefix>Dr</prefix><given>Anne</given><family>LECLERC</family></name></assignedPerson>"
ORG = (
    '<representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1690000880"/>'
    "<name>CH de Démonstration - Site de Lyon</name></representedOrganization>"
)


def cda(**changes: str | None) -> bytes:
    h = {**HEADER, **changes}
    ext = f' extension="{h["id_extension"]}"' if h["id_extension"] else ""
    author_entity = h["author_entity"] or (
        f'<id root="1.2.250.1.71.4.2.1" extension="{h["author_id"]}"/>'
        '<code code="G15_10/SM04" codeSystem="1.2.250.1.213.1.1.4.5" displayName="Cardiologie"/>'
        f"{PERSON}{ORG}"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{h["prolog"]}\n'
        '<ClinicalDocument xmlns="urn:hl7-org:v3">'
        '<realmCode code="FR"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        '<templateId root="2.16.840.1.113883.2.8.2.1"/><templateId root="1.2.250.1.213.1.1.1.1"/>'
        f"{h['model']}"
        f'<id root="{h["doc_id"]}"{ext}/>'
        f'<code code="{h["code"]}" codeSystem="2.16.840.1.113883.6.1" displayName="Lettre de liaison"/>'
        f"<title>{h['title']}</title>"
        f'<effectiveTime value="{h["effective"]}"/>'
        f'<confidentialityCode code="{h["confidentiality"]}" codeSystem="2.16.840.1.113883.5.25" displayName="x"/>'
        f'<languageCode code="{h["language"]}"/>'
        f'<setId root="{h["set_id"]}"/><versionNumber value="{h["version"]}"/>'
        "<recordTarget><patientRole>"
        f'<id root="{h["ins_oid"]}" extension="{h["ins"]}"/><id root="1.2.250.1.999.1.2" extension="IPP-00451287"/>'
        f'<patient><name><family qualifier="BR">{h["family"]}</family><given>Pierre Jean Marie</given>'
        '<given qualifier="BR">Pierre</given></name>'
        f'<administrativeGenderCode code="{h["gender"]}" codeSystem="2.16.840.1.113883.5.1"/>'
        f'<birthTime value="{h["birth"]}"/>'
        "<birthplace><place><addr><county>69123</county></addr></place></birthplace></patient>"
        "</patientRole></recordTarget>"
        f'<author><time value="{h["effective"]}"/><assignedAuthor>{author_entity}</assignedAuthor></author>'
        "<custodian><assignedCustodian><representedCustodianOrganization>"
        '<id root="1.2.250.1.71.4.2.2" extension="1690000880"/><name>CH de Démonstration</name>'
        "</representedCustodianOrganization></assignedCustodian></custodian>"
        f'<legalAuthenticator><time value="{h["effective"]}"/><signatureCode code="S"/><assignedEntity>'
        f'<id root="1.2.250.1.71.4.2.1" extension="{h["legal_id"]}"/>{PERSON}{ORG}'
        "</assignedEntity></legalAuthenticator>"
        '<documentationOf><serviceEvent><code code="IMP" codeSystem="2.16.840.1.113883.5.4" displayName="Hosp"/>'
        f'<effectiveTime><low value="{h["low"]}"/><high value="{h["high"]}"/></effectiveTime>'
        '<performer typeCode="PRF"><assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810101201234"/>'
        '<representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1690000880"/>'
        f'<standardIndustryClassCode code="{h["practice"]}" codeSystem="1.2.250.1.213.1.1.4.9" displayName="x"/>'
        "</representedOrganization></assignedEntity></performer></serviceEvent></documentationOf>"
        "<componentOf><encompassingEncounter>"
        f'<effectiveTime><low value="{h["low"]}"/></effectiveTime>'
        "<location><healthCareFacility>"
        f'<code code="{h["facility"]}" codeSystem="1.2.250.1.71.4.2.4" displayName="x"/>'
        "</healthCareFacility></location></encompassingEncounter></componentOf>"
        f"{h['body']}</ClinicalDocument>"
    ).encode()
