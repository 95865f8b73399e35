"""Wire identifiers in one place: the OIDs of the identifier authorities and code systems the facade writes in CDA
``root`` / ``codeSystem`` and XDS ``codingScheme`` (the way signxml keeps its algorithm identifiers in one module).
Each constant is named for its NOS table (``TRE_xxx``, the ids of the ANS terminology server and of the kit's
``terminologies/nos-svs`` headers) or its standard; ``terminology.uri_mapper`` maps FHIR system URIs onto them.
"""

from __future__ import annotations

from typing import Final

# --- identifier authorities (spec digest §5) ---
PS_IDNAT: Final = "1.2.250.1.71.4.2.1"  # national id of a health professional (8+RPPS, 0+ADELI, 3+FINESS/id)
STRUCT_IDNAT: Final = "1.2.250.1.71.4.2.2"  # national id of a structure (1+FINESS, 3+SIRET, 4+RPPS rang ...)
INS_NIR: Final = "1.2.250.1.213.1.4.8"
INS_NIA: Final = "1.2.250.1.213.1.4.9"
INS_NIR_TEST: Final = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO: Final = "1.2.250.1.213.1.4.11"
INS_ARC: Final = "1.2.250.1.213.1.4."  # every INS OID (production, test, demo) is under this arc
COFRAC_ACCREDITATION: Final = "1.2.250.1.213.6.3.1"  # COFRAC accreditation number of a laboratory

# --- NOS tables (TRE) ---
TRE_A00_PRODUCTEUR_DOC_NON_PS: Final = "1.2.250.1.213.1.1.4.6"  # AUTOMATE, DISPOSITIF
TRE_A01_CADRE_EXERCICE: Final = "1.2.250.1.213.1.1.4.9"  # practiceSettingCode
TRE_A02_PROFESSION_SAVFAIRE_CISIS: Final = "1.2.250.1.213.1.1.4.5"  # JDV_J01 author speciality (G15_10/SM26)
TRE_A03_CLASSE_DOCUMENT: Final = "1.2.250.1.213.1.1.4.1"  # XDS classCode
TRE_A06_FORMAT_CODE_COMPLEMENTAIRE: Final = "1.2.250.1.213.1.1.4.2.282"  # French formatCodes
TRE_A07_STATUT_VISIBILITE_DOCUMENT: Final = "1.2.250.1.213.1.1.4.13"  # DMP masking codes (MASQUE_PS ...)
TRE_A11_IHE_FORMAT_CODE: Final = "1.3.6.1.4.1.19376.1.2.3"  # IHE formatCode
TRE_G15_PROFESSION_SANTE: Final = "1.2.250.1.71.1.2.7"  # profession (10 Médecin, 21 Pharmacien ...)
# The savoir-faire (ordinal speciality) codes SM01..SM99: the DMP spec (ANS HL7v2 guide, DMPi error texts) and the
# kit's VIHF examples (codeSystemName "specialites RPPS") carry them under this OID as TRE_R01-EnsembleSavoirFaire.
# FR Core names the same codes by the TRE_R38-SpecialiteOrdinale URI: an input alias of this OID
# (terminology.uri_mapper), not a second name.
TRE_R01_ENSEMBLE_SAVOIR_FAIRE: Final = "1.2.250.1.71.4.2.5"
TRE_R02_SECTEUR_ACTIVITE: Final = "1.2.250.1.71.4.2.4"  # VIHF Secteur_Activite, healthcareFacilityTypeCode
TRE_R85_ROLE_PRISE_CHARGE: Final = "1.2.250.1.213.1.6.1.107"  # author functionCode (JDV_J47)
TRE_R209_TYPE_ACTIVITE: Final = "1.2.250.1.213.2.2"  # JDV_J59 contentTypeCode
TRE_R258_RELATION_PRISE_CHARGE: Final = "1.2.250.1.213.1.1.4.2.280"  # author functionCode (JDV_J47)
TRE_R259_HL7_PARTICIPATION_FUNCTION: Final = "2.16.840.1.113883.5.88"  # author functionCode (JDV_J47)
VIHF_MODE_ACCES: Final = "1.2.250.1.213.1.1.4.248"  # VIHF purposeofuse ("mode acces VIHF")

# --- international code systems ---
LOINC: Final = "2.16.840.1.113883.6.1"  # TRE_A04-Loinc
SNOMED_CT: Final = "2.16.840.1.113883.6.96"
UCUM: Final = "2.16.840.1.113883.6.8"
HL7_CONFIDENTIALITY: Final = "2.16.840.1.113883.5.25"  # TRE_A08-HL7Confidentiality
HL7_OBSERVATION_INTERPRETATION: Final = "2.16.840.1.113883.5.83"  # JDV_HL7_ObservationInterpretation-CISIS
HL7_V2_0487_SPECIMEN_TYPE: Final = "2.16.840.1.113883.18.311"  # JDV_HL7_SpecimenType-CISIS
ASTM_E1762_SIGNATURE_TYPE: Final = "1.2.840.10065.1.12"  # lot signature eventCode (1.2.840.10065.1.12.1.14 Source)
IHE_DSG_DIGITAL_SIGNATURE: Final = "1.3.6.1.4.1.19376.1.2.1.1.1"  # lot signature classCode (as urn:oid:...)
