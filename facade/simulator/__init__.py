"""The DMP simulator: an HTTPS (mutual TLS) XDS.b repository that checks ITI-41 submissions the way the DMP does
(MTOM, SOAP 1.2 + WS-Addressing, VIHF, XAdES lot signature, metadata rules), stores accepted documents, answers real
RegistryResponses or SOAP Faults, follows scripted behaviours, and keeps every request it received in
``STATE/inbox/<n>.http``. A product feature (``facade simulator``, ``facade demo``), not a test double."""

from facade.simulator.app import Simulator, SimulatorApp, create_simulator_app
from facade.simulator.config import REPOSITORY_PATH, SimulatorConfig, StructureRule
from facade.simulator.script import Behaviour, Script, ScriptError, Step
from facade.simulator.server import DEFAULT_PORT, SimulatorServer, run_simulator, serve_simulator

__all__ = [
    "DEFAULT_PORT",
    "REPOSITORY_PATH",
    "Behaviour",
    "Script",
    "ScriptError",
    "Simulator",
    "SimulatorApp",
    "SimulatorConfig",
    "SimulatorServer",
    "Step",
    "StructureRule",
    "create_simulator_app",
    "run_simulator",
    "serve_simulator",
]
