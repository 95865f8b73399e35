"""The simulated DMP's rights check: the transaction must be open to the VIHF's Authentification_Mode in the
simulator's own matrix (``SimulatorConfig.rights``, pdsm4dmp §3.2), else a SOAP 1.2 Fault ``soap:Sender`` /
``DMPAccessDenied`` — a refusal at the security layer, like ``DMPInvalidCertificate`` (spec §8). The DMP's own
subcode for a rights refusal is not in the sources read [UNCERTAIN]: the facade maps this one to 403."""

from __future__ import annotations

from facade.simulator.config import SimulatorConfig
from facade.simulator.services import VerifiedRequest
from facade.simulator.soap12 import SOAP12_NS, FaultSubcode, SoapFault

DMP_ACCESS_DENIED = FaultSubcode(SOAP12_NS, "DMPAccessDenied", "soap")


def vihf_mode(config: SimulatorConfig, request: VerifiedRequest) -> str | None:
    """The VIHF's authentication mode, under either spelling of the attribute the simulator accepts."""
    return next((m for n in config.mode_attribute_names if (m := request.vihf.value(n))), None)


def require(config: SimulatorConfig, request: VerifiedRequest, transaction: str) -> None:
    mode = vihf_mode(config, request)
    if not config.may(mode, transaction):
        raise SoapFault(
            "Sender",
            f"Transaction {transaction} non autorisée pour le mode d'authentification {mode or '(absent)'}",
            DMP_ACCESS_DENIED,
        )
