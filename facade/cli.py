"""`facade` command line: preview (offline conversion), serve, demo, simulator, pki init."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from lxml import etree

from facade.api.outcomes import operation_outcome
from facade.errors import FacadeError


def _cmd_preview(args: argparse.Namespace) -> int:
    from facade.ids import SequentialOids
    from facade.runtime import Runtime
    from facade.settings import Settings

    overrides: dict[str, object] = {"environment": "development"}
    if args.kit:
        overrides["validation_kit"] = Path(args.kit)
    settings = Settings(**overrides)  # type: ignore[arg-type]
    # Nothing is sent by a preview: INS test/demo OIDs are accepted unless --production-ins-only.
    settings.input.accept_test_ins = not args.production_ins_only
    converter = Runtime(settings).converter
    if args.now:
        fixed = datetime.fromisoformat(args.now)
        converter.now = lambda: fixed
        converter.new_oid = SequentialOids(settings.facility.oid_root)
    try:
        body = Path(args.bundle).read_bytes()
    except OSError as exc:
        print(f"cannot read {args.bundle}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        conversion = converter.convert(body, full=args.full)
    except FacadeError as exc:
        print(json.dumps(operation_outcome(exc.issues), indent=2, ensure_ascii=False), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metadata = etree.tostring(conversion.metadata(), xml_declaration=True, encoding="UTF-8")
    for n, doc in enumerate(conversion.documents, start=1):
        (out / f"{n}.cda.xml").write_bytes(doc.cda)
        (out / f"{n}.metadata.xml").write_bytes(metadata)
    outcome = operation_outcome(conversion.all_issues())
    (out / "outcome.json").write_text(json.dumps(outcome, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    errors = [i for i in conversion.all_issues() if i.is_error]
    for issue in conversion.all_issues():
        print(f"{issue.effective_severity}: {issue.problem.spec.code}: {issue.message}", file=sys.stderr)
    print(f"{len(conversion.documents)} document(s) written to {out}; {len(errors)} validation error(s)")
    return 1 if errors else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from facade.app import create_app, server_config
    from facade.logs import configure_logging
    from facade.runtime import Runtime
    from facade.settings import get_settings

    try:
        settings = get_settings()
        configure_logging(level=settings.logging.level, fmt=settings.logging.format)  # before the first log line
        runtime = Runtime(settings)
        runtime.check_startup()  # certificates, kit, VIHF configuration: refuse to start with one clear line
        app = create_app(runtime=runtime)  # builds the authenticator: an unusable JWKS is refused here, one line
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"facade: refusing to start: {where}: {error['msg']}", file=sys.stderr)
        return 3
    except FacadeError as exc:
        for issue in exc.issues:
            print(f"facade: refusing to start: {issue.problem.spec.code}: {issue.message}", file=sys.stderr)
        return 3
    # server_config: JSON logs with redaction, HTTPS and client certificates when auth.mode = mtls
    uvicorn.Server(server_config(settings, app, host=args.host, port=args.port)).run()
    return 0


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
    pki = _pki_for(Path(args.pki), facility)
    config = SimulatorConfig(structures={"1" + facility.finess_ej: frozenset({"1" + facility.finess_eg})})
    serve_simulator(Path(args.state), pki, host=args.host, port=args.port, config=config)  # type: ignore[arg-type]
    return 0


def demo_settings(state: Path, repository_url: str, pki: object) -> object:
    """Settings of the self-contained demo: development mode, the simulator as DMP, the generated test PKI."""
    from facade.pki import TestPki
    from facade.settings import CredentialConfig, DmpConfig, InputConfig, Settings

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
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from facade.app import create_app, server_config
    from facade.settings import PROJECT_ROOT, FacilityConfig
    from facade.simulator import SimulatorConfig, SimulatorServer

    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    facility = FacilityConfig()
    pki = _pki_for(state / "pki", facility)
    config = SimulatorConfig(structures={"1" + facility.finess_ej: frozenset({"1" + facility.finess_eg})})
    simulator = SimulatorServer(
        state,
        ca_cert=pki.ca_cert,  # type: ignore[attr-defined]
        server_cert=pki.server_cert,  # type: ignore[attr-defined]
        server_key=pki.server_key,  # type: ignore[attr-defined]
        port=args.simulator_port,
        config=config,
    ).start()
    settings = demo_settings(state, simulator.url, pki)
    example = PROJECT_ROOT / "conformance" / "bundles" / "ldl-ses" / "pdf-discharge-letter.json"
    base = f"http://{args.host}:{args.port}/fhir"
    print(
        f"""
DMP facade demo (state: {state})
  DMP simulator (mutual TLS, test PKI in {state / "pki"}): {simulator.url}
  facade: {base}   (CapabilityStatement: {base}/metadata, health: http://{args.host}:{args.port}/health)

Post the example bundle (a PDF lettre de liaison, test INS):
  curl -s -X POST {base} -H 'Content-Type: application/fhir+json' --data-binary @{example}
Preview without sending:
  curl -s -X POST '{base}/Bundle/$preview?validate=full' \\
       -H 'Content-Type: application/fhir+json' --data-binary @{example}
What the simulated DMP received, byte for byte: {state / "inbox"}/
""",
        flush=True,
    )
    settings.logging.format = "text"  # type: ignore[attr-defined]  # a person reads the demo's console
    try:
        app = create_app(settings)  # type: ignore[arg-type]
        uvicorn.Server(server_config(settings, app, host=args.host, port=args.port)).run()  # type: ignore[arg-type]
    finally:
        simulator.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facade", description="FHIR facade feeding the DMP")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview", help="convert a bundle offline: CDA + XDS metadata + validation outcome")
    p.add_argument("bundle", help="ITI-65 transaction Bundle or ITI-105 DocumentReference (JSON)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--full", action="store_true", help="also run the structuration-minimale and volet schematrons")
    p.add_argument("--kit", help="ANS conformance kit folder (default: FACADE_VALIDATION_KIT or ../shared/...)")
    p.add_argument("--production-ins-only", action="store_true", help="refuse INS test/demo OIDs as production does")
    p.add_argument("--now", help=argparse.SUPPRESS)  # reproducible output: fixed clock + sequential OIDs
    p.set_defaults(func=_cmd_preview)

    s = sub.add_parser("serve", help="run the facade (settings from FACADE_* variables)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.set_defaults(func=_cmd_serve)

    d = sub.add_parser(
        "demo", help="facade + DMP simulator over mutual TLS with a generated test PKI, no configuration"
    )
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--state", default=".facade", help="state folder (PKI, SQLite store, simulator registry, inbox)")
    d.add_argument("--simulator-port", type=int, default=0, help="TLS port of the simulator (default: a free port)")
    d.set_defaults(func=_cmd_demo)

    m = sub.add_parser("simulator", help="run the DMP simulator alone (mutual TLS)")
    m.add_argument("--pki", required=True, help="test PKI folder (created with `facade pki init` if absent)")
    m.add_argument("--state", required=True, help="simulator state: registry, documents, inbox/<n>.http")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=8443)
    m.set_defaults(func=_cmd_simulator)

    k = sub.add_parser("pki", help="test PKI")
    ksub = k.add_subparsers(dest="pki_command", required=True)
    ki = ksub.add_parser(
        "init", help="write a test PKI (CA, ORG AUTH_CLI, ORG SIGN, simulator server) as PEM + PKCS#12"
    )
    ki.add_argument("directory")
    ki.add_argument(
        "--structure-id", default="1120456789", help="Struct_IdNat written in the OU of the ORG certificates"
    )
    ki.add_argument("--org-name", default="CH DE DEMONSTRATION")
    ki.set_defaults(func=_cmd_pki_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
