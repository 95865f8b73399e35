"""Settings of the DMP simulator (explicit values; the CLI builds them, nothing here reads the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

REPOSITORY_PATH = "/si-dmp-server/v2/services/repository"  # the DMP URL shape (spec §2.2)
REGISTRY_PATH = "/si-dmp-server/v2/services/registry"  # ITI-18 stored queries, ITI-57 updates (pdsm4dmp §3.1)
PATIENTS_PATH = "/si-dmp-server/v2/services/patients"  # TD0.2 test d'existence, HL7v3 (pdsm4dmp §3.1)
DMP_REPOSITORY_UNIQUE_ID = "1.2.250.1.213.4.1.1.1.2"  # spec §2.2 (TD3.1 response)

# TLS 1.2 suites accepted by the DMP for LPS access (spec §2.3, GIE PDT-INF-579v4), OpenSSL names
DMP_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    )
)


_INDIRECT_RIGHTS = frozenset({"TD0.2", "TD2.1", "TD3.1b", "TD3.3c"})
DEFAULT_RIGHTS: Mapping[str, frozenset[str]] = {
    "INDIRECTE": _INDIRECT_RIGHTS,
    "INDIRECTE_RENFORCEE": _INDIRECT_RIGHTS | {"TD3.1a", "TD3.2", "TD3.3a", "TD3.3b", "TD3.3d"},
    "DIRECTE": _INDIRECT_RIGHTS | {"TD3.1a", "TD3.2", "TD3.3a", "TD3.3b", "TD3.3d"},
}


class StructureRule(StrEnum):
    """How the VIHF ``Identifiant_Structure`` is tied to the certificates (spec §1.3/§1.4).

    The ORG certificates carry the Struct_IdNat in OU. ``both`` (default) requires it to equal the OU of the TLS client
    certificate AND of the certificate that signed the VIHF; ``tls`` / ``signer`` check one of them; ``none`` skips.
    """

    BOTH = "both"
    TLS = "tls"
    SIGNER = "signer"
    NONE = "none"


@dataclass(frozen=True)
class SimulatorConfig:
    # INS roots the simulated DMP knows: production NIR/NIA plus test (.10) and demo (.11), spec §5.1
    accepted_ins_oids: frozenset[str] = frozenset(
        {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}
    )
    vihf_versions: frozenset[str] = frozenset({"3.0"})
    # both casings of the mode attribute exist in DMP material (spec §1.2 UNCERTAIN): accept either
    mode_attribute_names: tuple[str, ...] = ("Authentification_Mode", "Authentification_mode")
    accepted_modes: frozenset[str] = frozenset({"INDIRECTE", "INDIRECTE_RENFORCEE"})
    # the VIHF carries no validity period in the samples; the facade builds one per request (spec §1.1)
    vihf_max_age: timedelta | None = timedelta(hours=1)
    clock_skew: timedelta = timedelta(minutes=5)
    structure_rule: StructureRule = StructureRule.BOTH
    # The simulated Annuaire: a legal entity's Struct_IdNat (the OU of its ORG certificates) -> the geographic sites
    # (Struct_IdNat "1" + FINESS EG) it may act for. Facility rule: the certificates belong to the legal entity (EJ),
    # the VIHF Identifiant_Structure names the emitting site (EG).
    structures: Mapping[str, frozenset[str]] = field(default_factory=dict)
    check_codes: bool = True  # class/type/format/confidentiality/facility/practice/contentType in the DMP JDVs
    require_lot_signature: bool = True  # the XAdES "signature du lot" is mandatory for TD2.1 (spec §4)
    response_mtom: bool = False  # answer multipart/related (XOP) instead of plain application/soap+xml
    repository_unique_id: str = DMP_REPOSITORY_UNIQUE_ID
    max_body_bytes: int = 64 * 1024 * 1024
    unknown_ins: frozenset[str] = field(default_factory=frozenset)  # initial set; also settable by the script
    # The DMP's rights matrix, VIHF Authentification_Mode -> transactions it opens (pdsm4dmp §3.2; its own copy,
    # not the facade's table, so a facade mistake shows). Scriptable per test: replace it in the config.
    rights: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_RIGHTS))
    # TD0.2: INS -> facade.simulator.td02.PatientState (DMP open / closed / none, authorization, flags); an INS not
    # listed has an open DMP. Also scriptable over POST /_simulator/patients.
    patients: Mapping[str, Any] = field(default_factory=dict)
    # TLS of `SimulatorServer`: the DMP offers TLS 1.2 only with four suites (spec §2.3)
    tls13: bool = False
    tls12_ciphers: str = DMP_TLS12_CIPHERS

    def may(self, mode: str | None, transaction: str) -> bool:
        """Does the rights matrix open ``transaction`` (e.g. "TD3.3d") to a VIHF of this Authentification_Mode?"""
        return transaction in self.rights.get(mode or "", frozenset())

    def structure_allowed(self, certificate_ou: str | None, structure: str) -> bool:
        """The VIHF structure is the certificate's own, or one of the sites of the certificate's legal entity."""
        return certificate_ou == structure or structure in self.structures.get(certificate_ou or "", frozenset())
