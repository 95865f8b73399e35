"""Adapters from the simulator's verifier seams to the project's verifiers and value sets.

The simulator reads the MTOM, SOAP and ebRIM itself; the cryptographic checks are the ones of
``facade.soap.vihf_verify.verify_vihf`` and ``facade.soap.xades_verify.verify_lot_signature`` (signxml / lxml), whose
SecurityErrors are turned here into the simulator's own exceptions (then into DMP-shaped answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from lxml import etree

from facade.errors import Problem, SecurityError
from facade.simulator.iti41 import CodeChecker
from facade.simulator.iti41_rules import LotSignatureError
from facade.simulator.vihf import VihfSignatureError
from facade.soap.vihf_verify import verify_vihf
from facade.soap.xades_verify import verify_lot_signature
from facade.terminology.tables import Terminology, ValueSetName

# SHA-1 is what the official samples use and the DMP historically accepts; SHA-256 is what the facade sends (§1.5)
VIHF_DIGESTS = frozenset({"sha256", "sha1"})
_CERTIFICATE_PROBLEMS = {Problem.SIGNER_NOT_SIGNING_CERTIFICATE, Problem.SIGNER_UNTRUSTED}


def _reason(exc: SecurityError) -> str:
    return "; ".join(i.message for i in exc.issues)


def default_vihf_verifier(assertion: bytes, ca_cert: Path, now: datetime) -> etree._Element:
    try:
        verified = verify_vihf(assertion, ca_pem_file=ca_cert, now=now, digests=VIHF_DIGESTS)
    except SecurityError as exc:
        raise VihfSignatureError(_reason(exc), certificate=exc.problem in _CERTIFICATE_PROBLEMS) from exc
    return verified.signed_xml


def default_lot_verifier(
    xades: bytes, documents: Mapping[str, bytes], ca_cert: Path, submission_unique_id: str, now: datetime
) -> None:
    try:
        verify_lot_signature(xades, documents, ca_pem_file=ca_cert, submission_unique_id=submission_unique_id, now=now)
    except SecurityError as exc:
        raise LotSignatureError(_reason(exc)) from exc


def terminology_checker() -> CodeChecker:
    """Membership in the DMP value sets (J57/J58/J59/J60/J61/J62/J66) of ``facade.terminology``."""
    terminology = Terminology.load()

    def check(value_set: str, code: str, system: str | None) -> bool:
        return terminology.lookup(ValueSetName(value_set), code, system) is not None

    return check
