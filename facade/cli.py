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
    body = Path(args.bundle).read_bytes()
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

    from facade.app import create_app
    from facade.settings import get_settings

    settings = get_settings()
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
