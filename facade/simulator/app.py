"""The DMP simulator as an ASGI app (Starlette).

Routes:
- ``POST /si-dmp-server/v2/services/repository``: ITI-41 (TD2.1), processed per the script (``script.py``); a plain
  SOAP request whose Action is ITI-43 RetrieveDocumentSet (TD3.2) goes to ``iti43.py`` instead;
- ``POST /si-dmp-server/v2/services/registry`` and ``.../patients``: plain SOAP services (``services.py``) whose
  transactions (ITI-18, ITI-57, TD0.2) register a handler per WS-A Action;
- ``GET /_simulator/requests`` (JSON list), ``GET /_simulator/requests/<n>`` (raw bytes of ``STATE/inbox/<n>.http``);
- ``GET|POST /_simulator/script`` (read / replace the script), ``GET /_simulator/documents`` (the registry);
- ``GET|POST /_simulator/patients``: the patients' DMP states TD0.2 answers from (``td02.PatientBook``);
- ``GET /_simulator/tls``: the TLS session as the simulator sees it (client certificate subject, version, cipher).

Every request outside ``/_simulator/`` is written to the inbox before anything else. The admin endpoints are served on
the same mutual-TLS listener (no separate trust). The client certificate comes from the TLS extension that
``facade.simulator.server.MtlsH11Protocol`` puts in the scope (asgiref TLS extension shape).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from facade import xmldoc
from facade.ids import system_now
from facade.simulator.config import PATIENTS_PATH, REGISTRY_PATH, REPOSITORY_PATH, SimulatorConfig
from facade.simulator.inbox import Inbox, format_request
from facade.simulator.iti18 import ACTION as ITI18_ACTION
from facade.simulator.iti18 import Iti18Handler
from facade.simulator.iti41 import Answer, CodeChecker, IncomingRequest, Iti41Processor, LotVerifier
from facade.simulator.iti43 import ACTION as ITI43_ACTION
from facade.simulator.iti43 import Iti43Handler
from facade.simulator.iti57 import ACTION as ITI57_ACTION
from facade.simulator.iti57 import Iti57Handler
from facade.simulator.registry import Registry
from facade.simulator.script import Behaviour, Script, ScriptError
from facade.simulator.services import Handler, PlainSoapService
from facade.simulator.signatures import default_lot_verifier, default_vihf_verifier, terminology_checker
from facade.simulator.soap12 import WSA_NS, SoapFault, fault_response
from facade.simulator.td02 import ACTION as TD02_ACTION
from facade.simulator.td02 import PatientBook, PatientBookError, Td02Handler
from facade.simulator.vihf import SignatureVerifier

log = logging.getLogger("facade.simulator")

ADMIN_PREFIX = "/_simulator"
TLS_EXTENSION = "tls"
CONNECTION_EXTENSION = "facade.simulator.connection"  # set by MtlsH11Protocol: raw request head + drop()


@dataclass
class Simulator:
    """The simulator's state, reachable from tests as ``app.state.simulator``."""

    state_dir: Path
    config: SimulatorConfig
    inbox: Inbox
    registry: Registry
    script: Script
    processor: Iti41Processor
    services: dict[str, PlainSoapService]  # URL path -> plain SOAP service (registry, patients)
    patients: PatientBook  # TD0.2: the scripted DMP states per INS


def create_simulator_app(
    state_dir: Path,
    *,
    ca_cert: Path,
    clock: Callable[[], datetime] = system_now,
    config: SimulatorConfig | None = None,
    code_checker: CodeChecker | None = None,
    vihf_verifier: SignatureVerifier | None = None,
    lot_verifier: LotVerifier | None = None,
) -> SimulatorApp:
    """Build the app over ``state_dir`` (inbox, registry.sqlite, documents/, script.json are created there).

    ``ca_cert`` is the CA the VIHF and XAdES signing certificates must chain to (the TLS trust is the server's).
    Without ``code_checker`` the DMP value sets of ``facade.terminology`` are used.
    """
    config = config or SimulatorConfig()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    registry = Registry(state_dir, config.repository_unique_id)
    script = Script(state_dir / "script.json", unknown_ins=config.unknown_ins)
    patients = PatientBook(state_dir / "patients.json", config.patients)
    processor = Iti41Processor(
        registry=registry,
        script=script,
        ca_cert=Path(ca_cert),
        config=config,
        clock=clock,
        vihf_verifier=vihf_verifier or default_vihf_verifier,
        lot_verifier=lot_verifier or default_lot_verifier,
        code_checker=code_checker if code_checker is not None else terminology_checker(),
        dmp_state=patients.dmp_state,  # feeding a closed DMP or none is refused like an unknown patient
    )
    # WS-A Action -> handler, per service; each DMP transaction registers itself here
    # the repository path also serves plain SOAP Actions besides ITI-41 (ITI-43), dispatched in _repository
    service_handlers: dict[str, dict[str, Handler]] = {REGISTRY_PATH: {}, PATIENTS_PATH: {}, REPOSITORY_PATH: {}}
    service_handlers[REGISTRY_PATH][ITI18_ACTION] = Iti18Handler(registry, config, script)
    service_handlers[REGISTRY_PATH][ITI57_ACTION] = Iti57Handler(registry, config)
    service_handlers[REPOSITORY_PATH][ITI43_ACTION] = Iti43Handler(config, registry)
    service_handlers[PATIENTS_PATH][TD02_ACTION] = Td02Handler(config, patients, script)
    services = {
        path: PlainSoapService(
            path.rsplit("/", 1)[-1],
            handlers,
            ca_cert=Path(ca_cert),
            config=config,
            clock=clock,
            vihf_verifier=vihf_verifier or default_vihf_verifier,
        )
        for path, handlers in service_handlers.items()
    }
    sim = Simulator(state_dir, config, Inbox(state_dir / "inbox"), registry, script, processor, services, patients)

    app = Starlette(
        routes=[
            Route(REPOSITORY_PATH, _repository, methods=["POST"]),
            Route(REGISTRY_PATH, _service, methods=["POST"]),
            Route(PATIENTS_PATH, _service, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/requests", _list_requests, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/requests/{{number:int}}", _get_request, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/script", _script, methods=["GET", "POST"]),
            Route(f"{ADMIN_PREFIX}/documents", _documents, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/patients", _patients, methods=["GET", "POST"]),
            Route(f"{ADMIN_PREFIX}/tls", _tls, methods=["GET"]),
        ]
    )
    app.state.simulator = sim
    return SimulatorApp(app, sim)


class SimulatorApp:
    """The ASGI app: writes every non-admin HTTP request, body included, to the inbox, then routes it (the body is
    replayed to the route). ``.simulator`` gives tests the inbox, registry and script."""

    def __init__(self, app: Starlette, sim: Simulator) -> None:
        self.app = app
        self.simulator = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        chunks = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.simulator.config.max_body_bytes:
                response = Response(b"request too large", status_code=413, media_type="text/plain")
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        number = self.simulator.inbox.write(_raw_request(scope, body))
        scope.setdefault("state", {})["inbox_number"] = number
        scope["state"]["body"] = body

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _raw_request(scope: Scope, body: bytes) -> bytes:
    conn = scope.get("extensions", {}).get(CONNECTION_EXTENSION)
    head = conn.get("request_head") if conn else None
    if head is not None:  # as received: original header casing and order (MtlsH11Protocol)
        method, target, version, headers = head
    else:  # plain ASGI server: rebuilt from the scope (header names are lower-cased there)
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        method, version, headers = scope["method"], scope.get("http_version", "1.1"), scope["headers"]
        target = target.decode("latin-1")
    return format_request(method, target, version, headers, body)


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.simulator
    return sim


def _client_certificate(request: Request) -> x509.Certificate | None:
    tls = request.scope.get("extensions", {}).get(TLS_EXTENSION) or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    return x509.load_pem_x509_certificate(chain[0].encode("ascii"))


def _response(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, headers={"content-type": answer.content_type})


def _plain_action(content_type: str, body: bytes) -> str | None:
    """The wsa:Action of a plain SOAP 1.2 request (ITI-43), None for MTOM (ITI-41) or an unreadable body."""
    if content_type.split(";", 1)[0].strip().lower() != "application/soap+xml":
        return None
    try:
        root = xmldoc.parse(body)
    except xmldoc.XmlError:
        return None
    found = root.find(f"{{*}}Header/{{{WSA_NS}}}Action")
    return (found.text or "").strip() if found is not None else None


async def _repository(request: Request) -> Response:
    sim = _sim(request)
    body = request.scope["state"].get("body", b"")
    number = request.scope["state"].get("inbox_number")
    if _plain_action(request.headers.get("content-type", ""), body) in sim.services[REPOSITORY_PATH].handlers:
        return await _service(request)  # ITI-43: the plain SOAP service of the repository (no ITI-41 script step)
    cert = _client_certificate(request)
    step = sim.script.next_step()
    log.info(
        "simulator request #%s from %s, behaviour %s",
        number,
        cert.subject.rfc4514_string() if cert else "(no client certificate)",
        step.behaviour.value,
    )

    if step.behaviour is Behaviour.DROP:
        conn = request.scope.get("extensions", {}).get(CONNECTION_EXTENSION)
        if conn is not None:
            conn["drop"]()
            return Response(b"", status_code=204)  # never sent: the connection is already closed
        # no protocol support (plain ASGI): the closest thing is an empty Receiver fault
        fault = SoapFault("Receiver", "Connexion interrompue (simulé ; serveur sans coupure possible)")
        return Response(fault_response(fault, None), status_code=500, media_type="application/soap+xml")
    if step.delay:
        await asyncio.sleep(step.delay)

    incoming = IncomingRequest(request.headers.get("content-type", ""), body, cert, number)
    try:
        answer = sim.processor.handle(incoming, step)
    except Exception:  # a simulator bug must still look like a SOAP service failing, not a bare 500
        log.exception("simulator failed on request #%s", number)
        fault = SoapFault("Receiver", f"Erreur interne du simulateur (requête n° {number})")
        return Response(fault_response(fault, None), status_code=500, media_type="application/soap+xml")
    return _response(answer)


async def _service(request: Request) -> Response:
    service = _sim(request).services[request.scope["path"]]
    body = request.scope["state"].get("body", b"")
    number = request.scope["state"].get("inbox_number")
    incoming = IncomingRequest(request.headers.get("content-type", ""), body, _client_certificate(request), number)
    try:
        answer = service.handle(incoming)
    except Exception:  # a simulator bug must still look like a SOAP service failing, not a bare 500
        log.exception("simulator %s failed on request #%s", service.name, number)
        fault = SoapFault("Receiver", f"Erreur interne du simulateur (requête n° {number})")
        return Response(fault_response(fault, None), status_code=500, media_type="application/soap+xml")
    return _response(answer)


async def _list_requests(request: Request) -> Response:
    return JSONResponse([e.to_json() for e in _sim(request).inbox.entries()])


async def _get_request(request: Request) -> Response:
    raw = _sim(request).inbox.read(request.path_params["number"])
    if raw is None:
        return JSONResponse({"error": "no such request"}, status_code=404)
    return Response(raw, media_type="message/http")


async def _script(request: Request) -> Response:
    script = _sim(request).script
    if request.method == "POST":
        try:
            state = script.update_from_json(json.loads(await request.body()))
        except (ScriptError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(state.to_json())
    return JSONResponse(script.state.to_json())


async def _documents(request: Request) -> Response:
    return JSONResponse([d.to_json() for d in _sim(request).registry.documents()])


async def _patients(request: Request) -> Response:
    book = _sim(request).patients
    if request.method == "POST":
        try:
            return JSONResponse(book.update_from_json(json.loads(await request.body())))
        except (PatientBookError, TypeError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(book.to_json())


async def _tls(request: Request) -> Response:
    tls = dict(request.scope.get("extensions", {}).get(TLS_EXTENSION) or {})
    return JSONResponse({k: tls.get(k) for k in ("client_cert_name", "tls_version", "cipher_suite")})
