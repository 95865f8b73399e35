"""Which DMP document a PATCH names: ``DocumentReference/<id>`` or the conditional ``identifier``, and its patient
from ``patient.identifier=<INS system>|<INS>`` (pdsm4dmp §3.1 TD3.3; PDSM ``st_recherche_fiche.md``: ``identifier``
names the uniqueId, ``urn:ietf:rfc:3986|urn:oid:<uniqueId>``, or the entry's ``urn:uuid:`` id)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from facade.dmp.search_params import parse_patient
from facade.dmp.update import PatchTarget
from facade.errors import FacadeError, Problem
from facade.model.identifiers import is_oid

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
RFC3986 = "urn:ietf:rfc:3986"


def patient_cx(values: Sequence[str], accepted_oids: frozenset[str]) -> str | None:
    """``patient.identifier`` -> the INS in CX form (``<INS>^^^&<OID>&ISO^NH``); 422 for a wrong system or key."""
    if not values:
        return None
    if len(values) > 1:
        raise FacadeError(Problem.INVALID_VALUE, expression="patient.identifier", element="patient.identifier",
                          reason="one patient per request")  # fmt: skip
    ins, oid = parse_patient([("patient.identifier", values[0])], accepted_oids)  # the search's INS rules
    return f"{ins}^^^&{oid}&ISO^NH"


def conditional_target(identifiers: Sequence[str], patient: str | None) -> PatchTarget:
    """The conditional PATCH's ``identifier``: a uniqueId (``urn:ietf:rfc:3986|urn:oid:…``, ``urn:oid:…`` or a bare
    OID) or an entry id (``urn:uuid:…``); none -> 412 (FHIR R4 http.html#cond-patch needs criteria)."""
    if len(identifiers) != 1:
        raise FacadeError(
            Problem.CONDITIONAL_PATCH_AMBIGUOUS, expression="identifier", count=len(identifiers) or "all",
            criteria=f"{len(identifiers)} identifier parameters",
        )  # fmt: skip
    raw = identifiers[0]
    system, bar, value = raw.rpartition("|")
    if bar and system not in (RFC3986, ""):
        raise FacadeError(Problem.INVALID_VALUE, expression="identifier", element="identifier",
                          reason=f"system {system}: use {RFC3986}|urn:oid:<uniqueId>")  # fmt: skip
    if value.startswith("urn:uuid:") and _UUID.match(value.removeprefix("urn:uuid:")):
        return PatchTarget(document_id=value.removeprefix("urn:uuid:").lower(), patient_ins_cx=patient)
    oid = value.removeprefix("urn:oid:")
    if not is_oid(oid):
        raise FacadeError(Problem.INVALID_VALUE, expression="identifier", element="identifier",
                          reason=f"{value!r} is neither urn:oid:<uniqueId> nor urn:uuid:<id>")  # fmt: skip
    return PatchTarget(unique_id=oid, patient_ins_cx=patient)


def id_target(document_id: str, patient: str | None) -> PatchTarget:
    """``DocumentReference/<id>``: the entryUUID's UUID (the facade's ids), or a uniqueId (earlier answers)."""
    if _UUID.match(document_id):
        return PatchTarget(document_id=document_id.lower(), patient_ins_cx=patient)
    if is_oid(document_id):
        return PatchTarget(unique_id=document_id, patient_ins_cx=patient)
    raise FacadeError(
        Problem.DMP_DOCUMENT_NOT_FOUND, context=f"No document DocumentReference/{document_id[:80]} in the DMP"
    )


__all__ = ["conditional_target", "id_target", "patient_cx"]
