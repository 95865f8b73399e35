"""Python-heap memory of one large PDF letter through the pipeline, stage by stage (tracemalloc; libxml2's trees are
C allocations and come on top).

    .venv/bin/python bench/memory_breakdown.py [--mb 10]

For each stage: what it keeps (retained) and its transient peak above what was there before it.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.issue12 import kit_path  # noqa: E402
from bench.procs import BundleFactory, pdf_bundle  # noqa: E402
from facade.cli import demo_settings  # noqa: E402
from facade.fhir.parse import parse_request  # noqa: E402
from facade.mapping.bundle_to_submission import to_submission  # noqa: E402
from facade.model.document import BuildContext  # noqa: E402
from facade.pki import init_test_pki  # noqa: E402
from facade.runtime import Runtime  # noqa: E402
from facade.settings import FacilityConfig, Settings  # noqa: E402


def step(label: str, fn: Callable[[], Any]) -> Any:
    gc.collect()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    out = fn()
    now, peak = tracemalloc.get_traced_memory()
    print(f"{label:<46} retained {(now - before) / 2**20:+7.1f} MB   peak {(peak - before) / 2**20:+7.1f} MB")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--mb", type=int, default=10, help="PDF size in MiB (default 10)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    facility = FacilityConfig()
    pki = init_test_pki(work / "pki", structure_id="1" + facility.finess_ej, org_name=facility.site_name.upper())
    settings = cast(Settings, demo_settings(work / "state", "https://127.0.0.1:9/repository", pki))
    settings.validation_kit = kit_path()
    settings.input.max_document_bytes = (args.mb + 4) * 2**20
    settings.input.max_body_bytes = 2 * (args.mb + 4) * 2**20
    runtime = Runtime(settings)
    converter, feeder = runtime.converter, runtime.feeder
    factory = BundleFactory()
    feeder.prepare(converter.convert(factory.submission(0).body))  # warm: imports, caches, compiled templates
    body = pdf_bundle(factory, 1, args.mb * 2**20)
    print(f"request body {len(body) / 2**20:.1f} MB (PDF {args.mb} MB as base64 in a Binary resource)")
    tracemalloc.start()
    ctx = BuildContext(facility=converter.facility, now=converter.now(), new_oid=converter.new_oid)
    parsed = step("parse_request (JSON + R4B)", lambda: parse_request(body, max_depth=converter.max_json_depth))
    mapping = step(
        "to_submission (mapping)", lambda: to_submission(parsed, ctx, converter.terminology, converter.policy)
    )
    document = mapping.submission.documents[0].document
    step("render_canonical (Jinja, parse, C14N, splice)", lambda: converter.renderer.render_canonical(document))
    conversion = step("Converter.convert (all of the above)", lambda: converter.convert(body))
    prepared = step("Feeder.prepare (XAdES, ebRIM)", lambda: feeder.prepare(conversion))
    step("Feeder.build_request (VIHF, MTOM)", lambda: feeder.build_request(prepared))
    return 0


if __name__ == "__main__":
    sys.exit(main())
