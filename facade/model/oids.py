"""Wire identifiers in one place: the OIDs of the code systems and identifier authorities the facade writes in
CDA ``codeSystem`` / ``root`` and XDS ``codingScheme`` (the way signxml keeps its algorithm identifiers in one
module). Each constant is named for its NOS table (``TRE_xxx``) or its standard; the NOS table ids come from the
``terminologies/nos-svs`` headers of the ANS conformance kit.
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
TRE_A00_PRODUCTEUR_DOC_NON_PS: Final = "1.2.250.1.213.1.1.4.6"  # VIHF role AUTOMATE
TRE_A02_PROFESSION_SAVFAIRE_CISIS: Final = "1.2.250.1.213.1.1.4.5"  # JDV_J01 author speciality (G15_10/SM26)
TRE_A03_CLASSE_DOCUMENT: Final = "1.2.250.1.213.1.1.4.1"  # XDS classCode
TRE_A07_STATUT_VISIBILITE_DOCUMENT: Final = "1.2.250.1.213.1.1.4.13"  # DMP masking codes
TRE_A11_IHE_FORMAT_CODE: Final = "1.3.6.1.4.1.19376.1.2.3"  # formatCode
TRE_G15_PROFESSION_SANTE: Final = "1.2.250.1.71.1.2.7"  # profession (10 Médecin, 21 Pharmacien ...)
# TRE_R38-SpecialiteOrdinale: the NOS table whose OID is 1.2.250.1.71.4.2.5 (SM26 "Qualifié en Médecine Générale"
# ...). The kit's VIHF examples and the DMP spec once called the same OID "TRE_R01-EnsembleSavoirFaire"; the NOS
# headers name it TRE_R38, so do we.
TRE_R38_SPECIALITE_ORDINALE: Final = "1.2.250.1.71.4.2.5"
TRE_R02_SECTEUR_ACTIVITE: Final = "1.2.250.1.71.4.2.4"  # VIHF Secteur_Activite, healthcareFacilityTypeCode
TRE_R209_TYPE_ACTIVITE: Final = "1.2.250.1.213.2.2"  # JDV_J59 contentTypeCode
VIHF_MODE_ACCES: Final = "1.2.250.1.213.1.1.4.248"  # VIHF purposeofuse ("mode acces VIHF")

# --- international code systems ---
LOINC: Final = "2.16.840.1.113883.6.1"
SNOMED_CT: Final = "2.16.840.1.113883.6.96"
UCUM: Final = "2.16.840.1.113883.6.8"
HL7_CONFIDENTIALITY: Final = "2.16.840.1.113883.5.25"
HL7_OBSERVATION_INTERPRETATION: Final = "2.16.840.1.113883.5.83"
HL7_V2_0487_SPECIMEN_TYPE: Final = "2.16.840.1.113883.18.311"
