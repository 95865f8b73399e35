"""The patient of a DMP request as FHIR search parameters carry it: ``<INS system>|<INS>`` (pdsm4dmp §2, §3.1).

``identifier`` on Patient (TD0.2), ``patient.identifier`` on a document read (TD3.2). The system is ``urn:oid:`` +
an INS OID the facade accepts (production NIR/NIA; test/demo only when configured), the value a 15-character
matricule whose key is right and whose kind fits the OID: the same rules as an INS in a submission, the same codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facade.errors import FacadeError, Issue, Problem, RequestError
from facade.model.identifiers import IdentifierError, NirKeyError, ins_kind_problem, oid_from_urn, parse_nir


@dataclass(frozen=True)
class InsParameter:
    ins: str
    oid: str

    @property
    def token(self) -> str:
        return f"urn:oid:{self.oid}|{self.ins}"


def parse_ins_parameter(values: Sequence[str], *, name: str, accepted: frozenset[str], missing: Problem,
                        expression: str) -> InsParameter:  # fmt: skip
    """One ``system|value`` token naming one INS; raises a RequestError naming the parameter otherwise."""
    tokens = [t for v in values for t in v.split(",") if t.strip()]
    if len(tokens) != 1:
        reason = f"{name} is absent" if not tokens else f"{name} names {len(tokens)} patients; give one"
        raise RequestError(missing, expression=expression, reason=reason)
    system, bar, value = tokens[0].strip().partition("|")
    oid = oid_from_urn(system) if bar else None
    accepted_text = ", ".join(f"urn:oid:{o}" for o in sorted(accepted))
    if oid is None or oid not in accepted:
        raise RequestError(
            Problem.INS_OID_NOT_ALLOWED, expression=expression, system=system if bar else "(none)",
            accepted=accepted_text,
        )  # fmt: skip
    try:
        nir = parse_nir(value)
    except NirKeyError as exc:
        raise RequestError(
            Problem.INS_KEY_MISMATCH, expression=expression, ins=value, key=exc.key, expected=exc.expected
        ) from None
    except IdentifierError as exc:
        raise RequestError(Problem.INS_MALFORMED, expression=expression, ins=value, reason=exc.reason) from None
    kind = ins_kind_problem(oid, nir)
    if kind is not None:
        raise RequestError(Problem.INS_KIND_MISMATCH, expression=expression, ins=value, reason=kind)
    return InsParameter(nir.value, oid)


def unknown_parameters(names: Sequence[str], supported: frozenset[str], *, strict: bool) -> list[Issue]:
    """Parameters this search does not support: refused (400) under ``Prefer: handling=strict``, else warnings
    (FHIR R4 search §3.1.1.5: lenient servers ignore them and say so)."""
    unknown = sorted({n for n in names if n not in supported})
    listed = ", ".join(sorted(supported))
    issues = [
        Issue(
            Problem.SEARCH_PARAMETER_UNKNOWN,
            expression=n,
            details={"name": n, "supported": listed},
            severity=None if strict else "warning",
        )
        for n in unknown
    ]
    if strict and issues:
        raise FacadeError(Problem.SEARCH_PARAMETER_UNKNOWN, issues=issues)
    return issues
