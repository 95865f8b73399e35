"""Replacing a document the facade never sent: its entryUUID from the DMP (GetDocuments by uniqueId, TD3.1b).

The RPLC association targets the replaced DocumentEntry's entryUUID, which the registry assigned and only the
registry knows (pdsm4dmp §4: "run GetDocuments by ``$XDSDocumentEntryUniqueId``", as DRIM's
``FindEntryUUIDDocumentRequest`` does). The facade's own registry answers for the documents it sent; for any other
one named by its uniqueId (``relatesTo.target.identifier = urn:oid:<uniqueId>``), the lookup asks the DMP with a
VIHF naming the request's patient (so another patient's document is never found), and takes the latest current
version. What the DMP cannot say (the CDA setId and version) stays the client's to give, as before: the set-id
identifier and the version-number extension, or a ready-made CDA's header.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from facade.dmp.client import DmpClient
from facade.dmp.rights import Transaction, allowed
from facade.dmp.stored_query import get_documents, latest_current
from facade.errors import SecurityError
from facade.fhir.references import conditional_identifier
from facade.mapping.replacement import KnownDocument, Lookup
from facade.model.identifiers import is_ins_oid, oid_from_urn


@dataclass(frozen=True)
class DmpDocument:
    """A document the DMP holds but the facade did not send: no setId / version known (0 = unknown)."""

    unique_id: str
    entry_uuid: str
    set_id: str = ""
    version: int = 0


def _resources(raw: Any) -> list[dict[str, Any]]:
    """The request's resources (a Bundle's entries or the body itself) and the resources they contain."""
    if not isinstance(raw, dict):
        return []
    top = [e.get("resource") for e in raw.get("entry") or [] if isinstance(e, dict)] if "entry" in raw else [raw]
    found = [r for r in top if isinstance(r, dict)]
    return found + [c for r in found for c in r.get("contained") or [] if isinstance(c, dict)]


def _ins(system: Any, value: Any) -> tuple[str, str] | None:
    oid = oid_from_urn(str(system or ""))
    return (str(value), oid) if oid is not None and is_ins_oid(oid) and value else None


def patient_ins_cx(body: bytes) -> str | None:
    """The request's one INS as HL7 CX (Patient identifiers, DocumentReference subjects), None when absent or
    ambiguous: the mapping then reports the patient properly."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        return None
    found: set[tuple[str, str]] = set()
    for resource in _resources(raw):
        if resource.get("resourceType") == "Patient":
            for ident in resource.get("identifier") or []:
                if isinstance(ident, dict) and (ins := _ins(ident.get("system"), ident.get("value"))):
                    found.add(ins)
        subject = resource.get("subject") if resource.get("resourceType") == "DocumentReference" else None
        if isinstance(subject, dict):
            cond = conditional_identifier(str(subject.get("reference") or ""))
            if cond is not None and (ins := _ins(cond[1], cond[2])):
                found.add(ins)
    if len(found) != 1:
        return None
    value, oid = found.pop()
    return f"{value}^^^&{oid}&ISO^NH"


class ReplacedResolver:
    """Builds, per request, the ``Lookup`` that ``facade.mapping.replacement.completed_request`` uses."""

    def __init__(self, registry: Lookup, client: DmpClient, *, auth_mode: str, granted: Sequence[str] = ()) -> None:
        self.registry = registry
        self.client = client
        self.auth_mode = auth_mode
        self.granted = tuple(granted)

    def for_body(self, body: bytes) -> Lookup:
        def lookup(*, entry_uuid: str | None = None, unique_id: str | None = None) -> KnownDocument | None:
            known = self.registry(entry_uuid=entry_uuid, unique_id=unique_id)
            if known is not None or unique_id is None:
                return known
            patient = patient_ins_cx(body)  # read only on a registry miss
            return self.from_dmp(patient, unique_id) if patient is not None else None

        return lookup

    def from_dmp(self, patient_ins_cx: str, unique_id: str) -> DmpDocument | None:
        """The DMP's latest current version of ``unique_id`` for this patient; None when it holds none (or the
        rights matrix closes TD3.1b). A DMP that fails answers with its own error (502/503), not "unknown"."""
        if not allowed(self.auth_mode, Transaction.TD3_1B, self.granted):
            return None
        try:
            entries = get_documents(self.client, patient_ins_cx, [unique_id])
        except SecurityError:  # not an INS the VIHF can carry: the mapping reports the patient
            return None
        same = [e for e in entries if e.unique_id == unique_id]
        # a replaced (Deprecated) one is still returned: the DMP then refuses the RPLC with its own code
        entry = latest_current(same) or max(same, key=lambda e: int(e.version or 0), default=None)
        return DmpDocument(entry.unique_id, entry.entry_uuid) if entry is not None else None


ResolverFactory = Callable[[bytes], Lookup]

__all__ = ["DmpDocument", "ReplacedResolver", "patient_ins_cx"]
