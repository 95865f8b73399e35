"""The simulated DMP's rights check: the transaction must be open to the VIHF's Authentification_Mode in the
simulator's own matrix (``SimulatorConfig.rights``, pdsm4dmp §3.2). A refusal is answered in the transaction's own
error form with the code ``DMPAccessDenied`` — a RegistryError for the XDS transactions, an acknowledgementDetail for
HL7v3 (TD0.2) — the simulator's code, as the ITI-18 / ITI-57 handlers use: the DMP's own code for a rights refusal is
not in the sources read (pdsm4dmp §8) [UNCERTAIN]. The facade maps it to 403 ``dmp-access-denied``."""

from __future__ import annotations

from facade.simulator.config import SimulatorConfig
from facade.simulator.services import VerifiedRequest

ACCESS_DENIED = "DMPAccessDenied"


def vihf_mode(config: SimulatorConfig, request: VerifiedRequest) -> str | None:
    """The VIHF's authentication mode, under either spelling of the attribute the simulator accepts."""
    return next((m for n in config.mode_attribute_names if (m := request.vihf.value(n))), None)


def refusal(config: SimulatorConfig, request: VerifiedRequest, transaction: str) -> str | None:
    """Why the matrix closes ``transaction`` to this VIHF (the DMP's words), None when it is open."""
    mode = vihf_mode(config, request)
    if config.may(mode, transaction):
        return None
    return f"Accès refusé : {transaction} non autorisée en mode {mode or '(absent)'}"
