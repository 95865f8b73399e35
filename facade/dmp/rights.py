"""Who may do what on the DMP (pdsm4dmp §3.2): the facade is a structure certificate, never a named professional.

The matrix is keyed by the VIHF ``Authentification_Mode``. ``INDIRECTE`` is the facade's default and the digest's
safer reading: test of existence, feeding, finding a document's technical id (TD3.1b) and deleting the structure's own
documents (TD3.3c); masking, visibility and archiving (TD3.3a/b/d) need direct authentication, or a replacement
document (TD2.1) carrying the new flags. ``INDIRECTE_RENFORCEE`` (AIR) adds rights per GIE-606, whose exact matrix
the digest did not read **[UNCERTAIN]**: the row below opens the consultation and update transactions, and
``FACADE_DMP__GRANTED_TRANSACTIONS`` lets an operator open more (what their DMP contract grants) — never fewer checks
on the DMP's side, which stays the judge.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from facade.errors import FacadeError, Problem


class Transaction(StrEnum):
    TD0_2 = "TD0.2"  # test d'existence (patient's DMP status)
    TD2_1 = "TD2.1"  # feeding (new document, replacement)
    TD3_1A = "TD3.1a"  # search a patient's documents
    TD3_1B = "TD3.1b"  # find one document by its uniqueId (GetDocuments)
    TD3_2 = "TD3.2"  # retrieve a document (ITI-43)
    TD3_3A = "TD3.3a"  # mask to / unmask for professionals
    TD3_3B = "TD3.3b"  # visibility to the patient / legal representatives
    TD3_3C = "TD3.3c"  # delete (dépublier), own documents only
    TD3_3D = "TD3.3d"  # archive / unarchive


_INDIRECT = frozenset({Transaction.TD0_2, Transaction.TD2_1, Transaction.TD3_1B, Transaction.TD3_3C})
RIGHTS: dict[str, frozenset[Transaction]] = {
    "INDIRECTE": _INDIRECT,
    "INDIRECTE_RENFORCEE": _INDIRECT  # [UNCERTAIN] GIE-606 not read: the consultation and update transactions
    | {Transaction.TD3_1A, Transaction.TD3_2, Transaction.TD3_3A, Transaction.TD3_3B, Transaction.TD3_3D},
    "DIRECTE": frozenset(Transaction),
}

_ALTERNATIVE = {
    Transaction.TD3_1A: "search by the document's identifier (TD3.1b) is open in every mode",
    Transaction.TD3_2: "the DMP opens reading documents to named professionals (direct authentication) and, per "
    "GIE-606, to AIR (FACADE_VIHF__AUTH_MODE=INDIRECTE_RENFORCEE); the DPI keeps its own copy of what it sent",
    Transaction.TD3_3A: "send a replacement document (TD2.1) carrying the new confidentiality codes",
    Transaction.TD3_3B: "send a replacement document (TD2.1) carrying the new confidentiality codes",
    Transaction.TD3_3D: "archiving needs direct authentication (a professional's CPS) in the DPI",
}


def allowed(mode: str, transaction: Transaction, granted: Iterable[str] = ()) -> bool:
    return transaction in RIGHTS.get(mode, frozenset()) or transaction.value in set(granted)


def require(mode: str, transaction: Transaction, granted: Iterable[str] = ()) -> None:
    """Refuse before anything is sent (403 ``dmp-rights-forbidden``) when the matrix closes ``transaction``."""
    if not allowed(mode, transaction, granted):
        raise FacadeError(
            Problem.DMP_RIGHTS_FORBIDDEN,
            transaction=transaction.value,
            mode=mode,
            reason="pdsm4dmp §3.2; FACADE_VIHF__AUTH_MODE and FACADE_DMP__GRANTED_TRANSACTIONS change it",
            alternative=_ALTERNATIVE.get(transaction, "the DMP reserves it to named professionals"),
        )
