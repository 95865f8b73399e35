"""XDS.b / ebRIM 3.0 wire constants as enums whose values are the wire URIs (spec digest §3.1; IHE ITI TF-3 §4.2.5)."""

from __future__ import annotations

from enum import StrEnum

RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XDSB_NS = "urn:ihe:iti:xds-b:2007"


class ClassificationScheme(StrEnum):
    """Classification/@classificationScheme."""

    SUBMISSION_SET_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
    SUBMISSION_SET_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
    DOCUMENT_ENTRY_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    EVENT_CODE_LIST = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    HEALTHCARE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"


class ClassificationNode(StrEnum):
    """Classification/@classificationNode."""

    SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
    FOLDER = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"


class ExternalIdentifierScheme(StrEnum):
    """ExternalIdentifier/@identificationScheme."""

    SUBMISSION_SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    SUBMISSION_SET_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
    SUBMISSION_SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
    DOCUMENT_ENTRY_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    DOCUMENT_ENTRY_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"


# The ExternalIdentifier/Name each scheme carries (GIE TD2.1 sample, IHE ITI TF-3 Table 4.2.3.2-*)
EXTERNAL_IDENTIFIER_NAMES: dict[ExternalIdentifierScheme, str] = {
    ExternalIdentifierScheme.SUBMISSION_SET_PATIENT_ID: "XDSSubmissionSet.patientId",
    ExternalIdentifierScheme.SUBMISSION_SET_SOURCE_ID: "XDSSubmissionSet.sourceId",
    ExternalIdentifierScheme.SUBMISSION_SET_UNIQUE_ID: "XDSSubmissionSet.uniqueId",
    ExternalIdentifierScheme.DOCUMENT_ENTRY_PATIENT_ID: "XDSDocumentEntry.patientId",
    ExternalIdentifierScheme.DOCUMENT_ENTRY_UNIQUE_ID: "XDSDocumentEntry.uniqueId",
}


class ObjectType(StrEnum):
    STABLE_DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    ON_DEMAND_DOCUMENT_ENTRY = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
    REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
    CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
    EXTERNAL_IDENTIFIER = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
    ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"


class AssociationType(StrEnum):
    HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    REPLACE = "urn:ihe:iti:2007:AssociationType:RPLC"
    TRANSFORM = "urn:ihe:iti:2007:AssociationType:XFRM"
    APPEND = "urn:ihe:iti:2007:AssociationType:APND"
    TRANSFORM_REPLACE = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
    SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
    UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"


class SubmissionSetStatus(StrEnum):
    """Slot SubmissionSetStatus of a HasMember association."""

    ORIGINAL = "Original"
    REFERENCE = "Reference"


class AvailabilityStatus(StrEnum):
    SUBMITTED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted"
    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
    ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"  # DMP (TD3.3d)


class ResponseStatus(StrEnum):
    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


class ErrorSeverity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


class Slot(StrEnum):
    """Slot names used on SubmissionSet / DocumentEntry / author classifications."""

    SUBMISSION_TIME = "submissionTime"
    CREATION_TIME = "creationTime"
    LANGUAGE_CODE = "languageCode"
    LEGAL_AUTHENTICATOR = "legalAuthenticator"
    SERVICE_START_TIME = "serviceStartTime"
    SERVICE_STOP_TIME = "serviceStopTime"
    SOURCE_PATIENT_ID = "sourcePatientId"
    SOURCE_PATIENT_INFO = "sourcePatientInfo"
    HASH = "hash"
    SIZE = "size"
    REPOSITORY_UNIQUE_ID = "repositoryUniqueId"
    REFERENCE_ID_LIST = "urn:ihe:iti:xds:2013:referenceIdList"
    CODING_SCHEME = "codingScheme"
    AUTHOR_PERSON = "authorPerson"
    AUTHOR_INSTITUTION = "authorInstitution"
    AUTHOR_ROLE = "authorRole"
    AUTHOR_SPECIALTY = "authorSpecialty"
    SUBMISSION_SET_STATUS = "SubmissionSetStatus"


__all__ = [
    "EXTERNAL_IDENTIFIER_NAMES",
    "LCM_NS",
    "RIM_NS",
    "RS_NS",
    "XDSB_NS",
    "AssociationType",
    "AvailabilityStatus",
    "ClassificationNode",
    "ClassificationScheme",
    "ErrorSeverity",
    "ExternalIdentifierScheme",
    "ObjectType",
    "ResponseStatus",
    "Slot",
    "SubmissionSetStatus",
]
