"""`facade` command line: preview (offline conversion), serve, demo, simulator, pki init."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from facade import __version__
from facade.errors import FacadeError

# Where every command keeps its state unless told otherwise: the variable `serve` reads through Settings.
STATE_DIR_VARIABLE = "FACADE_STATE_DIR"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_VARIABLE) or ".facade")


def _cmd_preview(args: argparse.Namespace) -> int:
    from facade import preview

    options = preview.Options(
        kit=Path(args.kit) if args.kit else None,
        full=args.full,
        production_ins_only=args.production_ins_only,
        now=args.now,
    )
    jobs = preview.jobs_for([Path(p) for p in args.inputs], Path(args.out))
    if not jobs:
        print(f"facade preview: no .json file in {', '.join(args.inputs)}", file=sys.stderr)
        return preview.Result.REJECTED.value
    processes = args.jobs or os.cpu_count() or 1
    progress = preview.Progress(len(jobs), sys.stderr)
    finished: dict[Path, preview.FileReport] = {}
    try:
        for report in preview.run(jobs, options, processes=processes, on_start=progress.start):
            finished[report.out] = report
            progress.finished(report)
    except FacadeError as exc:  # the converter itself cannot be built (kit, templates): nothing was converted
        for issue in exc.issues:
            print(f"facade preview: {issue.problem.spec.code}: {issue.message}", file=sys.stderr)
        return preview.Result.FAILED.value
    reports = [finished[job.out] for job in jobs]
    if len(reports) == 1:  # one file: its issues in full (a batch keeps them in each outcome.json)
        for line in reports[0].lines:
            print(line, file=sys.stderr)
    print(preview.summary(reports))
    print(f"artefacts (CDA, XDS metadata, outcome.json) in {args.out}")
    return preview.exit_code(reports)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from facade.app import create_app, server_config
    from facade.logs import configure_logging
    from facade.runtime import Runtime
    from facade.settings import get_settings, unknown_variables

    problems: list[str] = []
    environment = os.environ.get("FACADE_ENVIRONMENT", "production").lower()  # until the settings say
    try:
        settings = get_settings()
        environment = settings.environment
        configure_logging(level=settings.logging.level, fmt=settings.logging.format)  # before the first log line
        runtime = Runtime(settings)
        runtime.check_startup()  # certificates, kit, VIHF configuration: refuse to start, one line per problem
        app = create_app(runtime=runtime)  # builds the authenticator: an unusable JWKS is refused here, one line
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems += [f"{where}: {line}" for line in message.splitlines()]
    except FacadeError as exc:
        problems += [f"{issue.problem.spec.code}: {issue.message}" for issue in exc.issues]
    for name in unknown_variables(os.environ):
        line = f"{name} names no setting (misspelt?)"
        if environment != "development":
            problems.append(line)
        else:  # logged in the chosen format (JSON lines stay JSON lines)
            logging.getLogger("facade").warning("%s: ignored", line)
    if problems:
        for line in problems:
            print(f"facade: refusing to start: {line}", file=sys.stderr)
        return 3
    # server_config: JSON logs with redaction, HTTPS and client certificates when auth.mode = mtls
    config = server_config(settings, app, host=args.host, port=args.port)
    if args.workers > 1:
        from facade.workers import serve_workers

        return serve_workers(runtime, config, args.workers)
    uvicorn.Server(config).run()
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _pki_for(directory: Path, facility: object) -> object:
    from facade.pki import init_test_pki
    from facade.settings import FacilityConfig

    assert isinstance(facility, FacilityConfig)
    # The ORG certificates belong to the legal entity: their OU is its Struct_IdNat ("1" + FINESS EJ).
    return init_test_pki(directory, structure_id="1" + facility.finess_ej, org_name=facility.site_name.upper())


def _cmd_pki_init(args: argparse.Namespace) -> int:
    from facade.pki import init_test_pki

    pki = init_test_pki(Path(args.directory), structure_id=args.structure_id, org_name=args.org_name)
    print(
        f"test PKI in {args.directory}: CA {pki.ca_cert.name}, ORG AUTH_CLI {pki.auth_p12.name} / {pki.auth_cert.name},"
    )
    print(f"ORG SIGN {pki.sign_p12.name} / {pki.sign_cert.name}, server {pki.server_cert.name};")
    print(f"PKCS#12 password in {pki.password_file} (mode 0600). Test use only: never trust this CA in production.")
    return 0


def _cmd_simulator(args: argparse.Namespace) -> int:
    from facade.settings import FacilityConfig
    from facade.simulator import SimulatorConfig, serve_simulator

    facility = FacilityConfig()
    state = Path(args.state) if args.state else state_dir()
    pki = _pki_for(Path(args.pki) if args.pki else state / "pki", facility)
    config = SimulatorConfig(structures={"1" + facility.finess_ej: frozenset({"1" + facility.finess_eg})})
    serve_simulator(state, pki, host=args.host, port=args.port, config=config)  # type: ignore[arg-type]
    return 0


def demo_settings(state: Path, repository_url: str, pki: object) -> object:
    """Settings of the self-contained demo: development mode, the simulator as DMP, the generated test PKI, and the
    reinforced indirect mode (AIR, ``INDIRECTE_RENFORCEE``) so that vendors see the whole connector (masking,
    archiving); production keeps the default ``INDIRECTE``, where those answer 403."""
    from facade.pki import TestPki
    from facade.settings import CredentialConfig, DmpConfig, InputConfig, Settings, VihfConfig

    assert isinstance(pki, TestPki)
    return Settings(
        environment="development",
        state_dir=state,
        input=InputConfig(accept_test_ins=True),
        dmp=DmpConfig(
            repository_url=repository_url,
            ca_bundle=pki.ca_cert,
            auth=CredentialConfig(p12=pki.auth_p12, p12_password_file=pki.password_file),
            sign=CredentialConfig(p12=pki.sign_p12, p12_password_file=pki.password_file),
        ),
        vihf=VihfConfig(auth_mode="INDIRECTE_RENFORCEE"),
    )


def listen(host: str, port: int) -> socket.socket:
    """Bind now, so a busy port fails with one clear line before anything is printed or started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections made once the banner is out wait in the backlog until uvicorn accepts them
    except OSError:
        sock.close()
        raise
    return sock


def _cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from facade.app import create_app, server_config
    from facade.runtime import Runtime
    from facade.settings import FacilityConfig
    from facade.simulator import SimulatorConfig, SimulatorServer

    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        print(f"facade demo: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 3
    state = (Path(args.state) if args.state else state_dir()).resolve()
    state.mkdir(parents=True, exist_ok=True)
    facility = FacilityConfig()
    pki = _pki_for(state / "pki", facility)
    config = SimulatorConfig(
        structures={"1" + facility.finess_ej: frozenset({"1" + facility.finess_eg})},
        patients={DEMO_CLOSED_INS: {"dmp": "closed"}, DEMO_NO_DMP_INS: {"dmp": "none"}},  # TD0.2 to try
    )
    try:
        simulator = SimulatorServer(
            state,
            ca_cert=pki.ca_cert,  # type: ignore[attr-defined]
            server_cert=pki.server_cert,  # type: ignore[attr-defined]
            server_key=pki.server_key,  # type: ignore[attr-defined]
            port=args.simulator_port,
            config=config,
        ).start()
    except OSError as exc:
        sock.close()
        print(f"facade demo: cannot start the DMP simulator: {exc.strerror or exc}", file=sys.stderr)
        return 3
    try:
        settings = demo_settings(state, simulator.url, pki)
        settings.logging.format = "text"  # type: ignore[attr-defined]  # a person reads the demo's console
        runtime = Runtime(settings)  # type: ignore[arg-type]
        runtime.check_startup()  # certificates, templates, kit: fail before the banner, not after
        port = sock.getsockname()[1]  # --port 0: the free port the system chose
        print(_demo_banner(args.host, port, state, simulator.url), flush=True)
        app = create_app(runtime=runtime)
        uv_config = server_config(settings, app, host=args.host, port=port)  # type: ignore[arg-type]
        uvicorn.Server(uv_config).run(sockets=[sock])  # the socket bound above: no second bind, no race
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown: the normal end of a demo
        print("facade demo: stopped", file=sys.stderr)
    except FacadeError as exc:
        for issue in exc.issues:
            print(f"facade demo: refusing to start: {issue.problem.spec.code}: {issue.message}", file=sys.stderr)
        return 3
    finally:
        sock.close()
        simulator.stop()
    return 0


DEMO_INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"  # test INS
DEMO_INS = "185076912345673"  # the example bundle's patient (open DMP)
DEMO_CLOSED_INS = "280017512345610"  # the demo simulator's closed DMP (valid key)
DEMO_NO_DMP_INS = "175029912345760"  # the demo simulator's patient without a DMP (valid key)


def _demo_banner(host: str, port: int, state: Path, simulator_url: str) -> str:
    from facade.settings import PACKAGE_DIR

    example = PACKAGE_DIR / "examples" / "ldl-ses" / "pdf-discharge-letter.json"
    base = f"http://{host}:{port}/fhir"
    return f"""
DMP facade demo (state: {state})
  DMP simulator (mutual TLS, test PKI in {state / "pki"}): {simulator_url}
  facade: {base}   (CapabilityStatement: {base}/metadata)
  health: http://{host}:{port}/health/live (liveness), http://{host}:{port}/health/ready (readiness)

Post the example bundle (a PDF lettre de liaison, test INS):
  curl -s -X POST {base} -H 'Content-Type: application/fhir+json' --data-binary @{example}
Preview without sending:
  curl -s -X POST '{base}/Bundle/$preview?validate=full' \\
       -H 'Content-Type: application/fhir+json' --data-binary @{example}
The patient's DMP (TD0.2): the example's patient, a closed DMP, no DMP:
  curl -s '{base}/Patient?identifier={DEMO_INS_SYSTEM}%7C{DEMO_INS}'
  curl -s '{base}/Patient?identifier={DEMO_INS_SYSTEM}%7C{DEMO_CLOSED_INS}'
  curl -s '{base}/Patient?identifier={DEMO_INS_SYSTEM}%7C{DEMO_NO_DMP_INS}'
{_lifecycle_commands(base, example)}
What the simulated DMP received, byte for byte: {state / "inbox"}/
VIHF mode INDIRECTE_RENFORCEE (AIR) for the demo, so searching, reading, masking and archiving work; production
defaults to INDIRECTE, where they answer 403 (FACADE_VIHF__AUTH_MODE).
"""


_A07 = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
_PATCHES = (  # (what, JSON Patch): PDSm for DMP's PATCH forms, one ITI-57 each
    ("mask it from professionals (TD3.3a)",
     f'[{{"op":"add","path":"/securityLabel/-","value":{{"coding":[{{"system":"{_A07}","code":"MASQUE_PS"}}]}}}}]'),
    ("archive it (TD3.3d)", '[{"op":"replace","path":"/extension/0/valueBoolean","value":true}]'),
    ("unarchive it", '[{"op":"replace","path":"/extension/0/valueBoolean","value":false}]'),
    ("delete it (TD3.3c)", '[{"op":"replace","path":"/status","value":"entered-in-error"}]'),
)  # fmt: skip


def _lifecycle_commands(base: str, example: Path) -> str:
    """The example document's life in the DMP, as commands a vendor can paste (the example's uniqueId and patient)."""
    import json

    unique_id = json.loads(example.read_text(encoding="utf-8-sig"))["entry"][1]["resource"]["masterIdentifier"]
    uid = str(unique_id["value"]).removeprefix("urn:oid:")
    patient = f"patient.identifier={DEMO_INS_SYSTEM}%7C{DEMO_INS}"
    lines = [
        "Once posted, its life in the DMP: search the patient's documents (TD3.1, ITI-18):",
        f"  curl -s '{base}/DocumentReference?{patient}&status=current'",
        "read it (TD3.2, ITI-43; the attachment.url the search answers):",
        f"  curl -s '{base}/Binary/{uid}?{patient}'",
    ]
    for what, ops in _PATCHES:
        lines += [
            f"{what}:",
            f"  curl -s -X PATCH '{base}/DocumentReference?identifier=urn:ietf:rfc:3986%7Curn:oid:{uid}' \\",
            f"       -H 'Content-Type: application/json-patch+json' -d '{ops}'",
        ]
    return "\n".join(lines)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, except where the help already says what happens when unset."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _cmd_probe(args: argparse.Namespace) -> int:
    """Container HEALTHCHECK: exit 0 when the URL answers 200, 1 otherwise, with one line saying why."""
    import httpx

    try:
        response = httpx.get(args.url, timeout=args.timeout, verify=args.ca or True)
    except httpx.HTTPError as exc:
        print(f"facade probe: {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text.strip()[:500]}")
    return 0 if response.status_code == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facade", description="FHIR facade feeding the DMP", formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_preview(sub)
    _add_servers(sub)
    _add_tools(sub)
    return parser


if TYPE_CHECKING:  # argparse's type of add_subparsers(): private, and not subscriptable at run time
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _add_preview(sub: Subparsers) -> None:
    formatter = _HelpFormatter
    p = sub.add_parser(
        "preview",
        formatter_class=formatter,
        help="convert bundles offline: CDA + XDS metadata + validation outcome per file, a summary table",
        description="Exit code of the worst file: 0 accepted, 1 invalid output, 2 input rejected, 3 facade failure.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE|DIR",
        help="ITI-65 Bundles or ITI-105 DocumentReferences (JSON); a folder gives its *.json files, recursively",
    )
    p.add_argument("--out", required=True, help="output folder (one subfolder per file when several)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes converting files in parallel, each loading its own converter: worth it with --full "
        "on free cores (0: one per CPU)",
    )
    p.add_argument("--full", action="store_true", help="also run the structuration-minimale and volet schematrons")
    p.add_argument("--kit", help="ANS conformance kit folder (when unset: FACADE_VALIDATION_KIT or ../shared/...)")
    p.add_argument("--production-ins-only", action="store_true", help="refuse INS test/demo OIDs as production does")
    p.add_argument("--now", help=argparse.SUPPRESS)  # reproducible output: fixed clock + sequential OIDs
    p.set_defaults(func=_cmd_preview)


def _add_servers(sub: Subparsers) -> None:
    formatter = _HelpFormatter
    s = sub.add_parser("serve", formatter_class=formatter, help="run the facade (settings from FACADE_* variables)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8080, help="TCP port to listen on")
    s.add_argument("--workers", type=_positive, default=1, help="worker processes sharing the port (one per core)")
    s.set_defaults(func=_cmd_serve)

    d = sub.add_parser(
        "demo",
        formatter_class=formatter,
        help="facade + DMP simulator over mutual TLS with a generated test PKI, no configuration",
    )
    d.add_argument("--host", default="127.0.0.1", help="address the facade listens on")
    d.add_argument("--port", type=int, default=8080, help="TCP port of the facade (0: a free port)")
    d.add_argument(
        "--state",
        help=f"state folder: PKI, SQLite store, simulator registry, inbox (when unset: ${STATE_DIR_VARIABLE}, "
        "else ./.facade)",
    )
    d.add_argument("--simulator-port", type=int, default=0, help="TLS port of the simulator (0: a free port)")
    d.set_defaults(func=_cmd_demo)

    m = sub.add_parser("simulator", formatter_class=formatter, help="run the DMP simulator alone (mutual TLS)")
    m.add_argument("--pki", help="test PKI folder, created if absent (when unset: <state>/pki)")
    m.add_argument(
        "--state",
        help=f"simulator state: registry, documents, inbox/<n>.http (when unset: ${STATE_DIR_VARIABLE}, "
        "else ./.facade)",
    )
    m.add_argument("--host", default="127.0.0.1", help="address to listen on")
    m.add_argument("--port", type=int, default=8443, help="TLS port to listen on")
    m.set_defaults(func=_cmd_simulator)


def _add_tools(sub: Subparsers) -> None:
    formatter = _HelpFormatter
    h = sub.add_parser("probe", formatter_class=formatter, help="check a health endpoint (container HEALTHCHECK)")
    h.add_argument("--url", default="http://127.0.0.1:8080/health/live", help="endpoint that must answer 200")
    h.add_argument("--timeout", type=float, default=5.0, help="seconds before giving up")
    h.add_argument("--ca", help="CA certificates (PEM) for an https URL (when unset: the system's)")
    h.set_defaults(func=_cmd_probe)

    k = sub.add_parser("pki", formatter_class=formatter, help="test PKI")
    ksub = k.add_subparsers(dest="pki_command", required=True)
    ki = ksub.add_parser(
        "init",
        formatter_class=formatter,
        help="write a test PKI (CA, ORG AUTH_CLI, ORG SIGN, simulator server) as PEM + PKCS#12",
    )
    ki.add_argument("directory", help="folder to write the PKI into")
    ki.add_argument(
        "--structure-id", default="1120456789", help="Struct_IdNat written in the OU of the ORG certificates"
    )
    ki.add_argument("--org-name", default="CH DE DEMONSTRATION", help="organisation name (O) of the certificates")
    ki.set_defaults(func=_cmd_pki_init)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
