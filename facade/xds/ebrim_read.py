"""ebRIM 3.0 metadata read back into plain objects: the round trip of ``facade.xds.ebrim`` in tests (what the
facade wrote is what the metadata says). The DMP simulator keeps its own, deliberately independent reading
(``facade.simulator.metadata``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from facade.model.document import Code
from facade.xds.codes import (
    RIM_NS,
    AssociationType,
    ClassificationNode,
    ClassificationScheme,
    ExternalIdentifierScheme,
    Slot,
)


def _rim(tag: str) -> str:
    return f"{{{RIM_NS}}}{tag}"


@dataclass(frozen=True)
class ParsedClassification:
    scheme: str | None  # classificationScheme (None for a classificationNode)
    node: str | None  # classificationNode
    code: str | None  # nodeRepresentation
    coding_scheme: str | None
    display: str | None
    slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedObject:
    """A RegistryPackage or ExtrinsicObject."""

    id: str
    tag: str  # RegistryPackage | ExtrinsicObject
    attributes: dict[str, str]
    slots: dict[str, list[str]]
    name: str | None
    description: str | None
    classifications: list[ParsedClassification]
    external_ids: dict[str, str]  # identificationScheme -> value

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name)
        return values[0] if values else None

    def codes(self, scheme: ClassificationScheme) -> list[Code]:
        return [
            Code(c.code or "", c.coding_scheme or "", c.display or "")
            for c in self.classifications
            if c.scheme == scheme.value
        ]

    def authors(self) -> list[dict[str, list[str]]]:
        author_schemes = {ClassificationScheme.SUBMISSION_SET_AUTHOR, ClassificationScheme.DOCUMENT_ENTRY_AUTHOR}
        return [c.slots for c in self.classifications if c.scheme in author_schemes]

    @property
    def unique_id(self) -> str | None:
        for scheme in (
            ExternalIdentifierScheme.DOCUMENT_ENTRY_UNIQUE_ID,
            ExternalIdentifierScheme.SUBMISSION_SET_UNIQUE_ID,
        ):
            if scheme.value in self.external_ids:
                return self.external_ids[scheme.value]
        return None

    @property
    def patient_id(self) -> str | None:
        for scheme in (
            ExternalIdentifierScheme.DOCUMENT_ENTRY_PATIENT_ID,
            ExternalIdentifierScheme.SUBMISSION_SET_PATIENT_ID,
        ):
            if scheme.value in self.external_ids:
                return self.external_ids[scheme.value]
        return None


@dataclass(frozen=True)
class ParsedAssociation:
    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]]


@dataclass(frozen=True)
class ParsedMetadata:
    submission_set: ParsedObject
    documents: list[ParsedObject]  # every ExtrinsicObject, in document order (incl. the signature entry)
    associations: list[ParsedAssociation]

    def document(self, entry_id: str) -> ParsedObject:
        for d in self.documents:
            if d.id == entry_id:
                return d
        raise KeyError(entry_id)

    def associations_of(self, kind: AssociationType) -> list[ParsedAssociation]:
        return [a for a in self.associations if a.type == kind.value]


def _slots(el: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in el.findall(_rim("Slot")):
        out[slot.get("name", "")] = [v.text or "" for v in slot.iterfind(f"{_rim('ValueList')}/{_rim('Value')}")]
    return out


def _text(el: etree._Element, tag: str) -> str | None:
    ls = el.find(f"{_rim(tag)}/{_rim('LocalizedString')}")
    return ls.get("value") if ls is not None else None


def _object(el: etree._Element) -> ParsedObject:
    classifications = []
    for cl in el.findall(_rim("Classification")):
        slots = _slots(cl)
        coding = slots.get(Slot.CODING_SCHEME.value)
        classifications.append(
            ParsedClassification(
                scheme=cl.get("classificationScheme"),
                node=cl.get("classificationNode"),
                code=cl.get("nodeRepresentation"),
                coding_scheme=coding[0] if coding else None,
                display=_text(cl, "Name"),
                slots=slots,
            )
        )
    return ParsedObject(
        id=el.get("id", ""),
        tag=etree.QName(el).localname,
        attributes={str(k): str(v) for k, v in el.attrib.items()},
        slots=_slots(el),
        name=_text(el, "Name"),
        description=_text(el, "Description"),
        classifications=classifications,
        external_ids={
            ei.get("identificationScheme", ""): ei.get("value", "") for ei in el.findall(_rim("ExternalIdentifier"))
        },
    )


def from_registry_object_list(el: etree._Element) -> ParsedMetadata:
    """Read back a RegistryObjectList (or a SubmitObjectsRequest / ProvideAndRegisterDocumentSetRequest holding one).
    Raises ValueError when no submission set is present."""
    rol = el if el.tag == _rim("RegistryObjectList") else el.find(f".//{_rim('RegistryObjectList')}")
    if rol is None:
        raise ValueError("no rim:RegistryObjectList")
    packages = [_object(p) for p in rol.findall(_rim("RegistryPackage"))]
    submission_sets = [
        p for p in packages if any(c.node == ClassificationNode.SUBMISSION_SET.value for c in p.classifications)
    ]
    # a node Classification may also stand alone, outside the package
    if not submission_sets:
        standalone = {
            cl.get("classifiedObject")
            for cl in rol.findall(_rim("Classification"))
            if cl.get("classificationNode") == ClassificationNode.SUBMISSION_SET.value
        }
        submission_sets = [p for p in packages if p.id in standalone]
    if len(submission_sets) != 1:
        raise ValueError(f"expected one SubmissionSet, found {len(submission_sets)}")
    associations = [
        ParsedAssociation(
            id=a.get("id", ""),
            type=a.get("associationType", ""),
            source=a.get("sourceObject", ""),
            target=a.get("targetObject", ""),
            slots=_slots(a),
        )
        for a in rol.findall(_rim("Association"))
    ]
    return ParsedMetadata(
        submission_set=submission_sets[0],
        documents=[_object(e) for e in rol.findall(_rim("ExtrinsicObject"))],
        associations=associations,
    )


__all__ = [
    "ParsedAssociation",
    "ParsedClassification",
    "ParsedMetadata",
    "ParsedObject",
    "from_registry_object_list",
]
