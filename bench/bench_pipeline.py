"""Pipeline micro-benchmark: medians and p90 of each conversion stage, per example bundle.

    python bench/bench_pipeline.py [--runs 300] [--warmup 30] [--kit PATH] [--json]

A stage is one function ``(case) -> object`` in STAGES; everything it needs that an earlier stage produces is
prepared once, outside the timed loop, as a cached property of Case. To measure a new step (signing, MTOM, send),
add a cached property for its inputs if needed and append one function to STAGES.

No assertions on timings here: this prints figures for bench/README.md. The reference is the stack-notes floor
(§8): 6.18 ms median for a 20-entry bundle -> signed ITI-41 MTOM body, single thread, this machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.floor import Floor  # noqa: E402
from facade.fhir.parse import parse_request  # noqa: E402
from facade.ids import SequentialOids  # noqa: E402
from facade.mapping.bundle_to_submission import MappingResult, to_submission  # noqa: E402
from facade.model.document import BuildContext, RenderedDocument  # noqa: E402
from facade.pipeline import Converter  # noqa: E402
from facade.runtime import Runtime  # noqa: E402
from facade.settings import Settings  # noqa: E402
from facade.xds.ebrim import to_submit_objects_request  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ROOT / "conformance" / "bundles"
CASES = {
    "ldl-pdf": BUNDLES / "ldl-ses" / "pdf-discharge-letter.json",
    "two-documents": BUNDLES / "multi" / "two-documents.json",
}
FLOOR_MS = 6.18  # stack-notes §8 on an idle machine; the ratio uses bench/floor.py measured in the same run
FLOOR_ENTRIES = 20
FLOOR_BUNDLE = ROOT / "bench" / "fixtures" / "cr-bio-20.json"
NOW = datetime.fromisoformat("2026-03-02T17:50:00+01:00")


@dataclass
class Case:
    """One input bundle and the intermediate results the stages start from (built once, outside timing)."""

    name: str
    body: bytes
    converter: Converter

    @property
    def entries(self) -> int:
        data = json.loads(self.body)
        return len(data.get("entry", [])) if data.get("resourceType") == "Bundle" else 1

    def context(self) -> BuildContext:
        return BuildContext(facility=self.converter.facility, now=NOW, new_oid=SequentialOids())

    @cached_property
    def mapping(self) -> MappingResult:
        c = self.converter
        return to_submission(parse_request(self.body), self.context(), c.terminology, c.policy)

    @cached_property
    def documents(self) -> tuple[RenderedDocument, ...]:
        render = self.converter.renderer.render
        return tuple(RenderedDocument(req, render(req.document)) for req in self.mapping.submission.documents)


# --- stages: one run of one step; return something so nothing is optimised away ---


def parse_and_map(case: Case) -> object:
    """JSON + R4B parse, input validation, mapping to the internal model."""
    c = case.converter
    return to_submission(parse_request(case.body, max_depth=c.max_json_depth), case.context(), c.terminology, c.policy)


def render(case: Case) -> object:
    """Jinja CDA rendering (incl. the renderer's well-formedness parse) of every document."""
    return [case.converter.renderer.render(req.document) for req in case.mapping.submission.documents]


def xsd(case: Case) -> object:
    """Safe parse + ANS CDA_extended.xsd of every rendered CDA (what Converter runs on every submission)."""
    schema = case.converter.schema
    assert schema is not None
    return [schema.issues(doc.cda, "CDA") for doc in case.documents]


def ebrim(case: Case) -> object:
    """lcm:SubmitObjectsRequest (SHA-1/size of each CDA, every Classification/Slot) serialised to bytes."""
    return etree.tostring(to_submit_objects_request(case.mapping.submission, case.documents))


def convert(case: Case) -> object:
    """The whole Converter.convert (parse, map, render, XSD); no schematron (validate=xsd, the runtime default)."""
    return case.converter.convert(case.body)


Stage = Callable[[Case], object]
STAGES: list[Stage] = [parse_and_map, render, xsd, ebrim, convert]
WHOLE = convert  # the stage compared with the floor


@dataclass(frozen=True)
class Figure:
    case: str
    stage: str
    runs: int
    median_ms: float
    p90_ms: float


def measure(stage: Stage, case: Case, runs: int, warmup: int) -> Figure:
    for _ in range(warmup):
        stage(case)
    gc.collect()
    samples: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        stage(case)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    p90 = statistics.quantiles(samples, n=10)[8]
    return Figure(case.name, stage.__name__, runs, statistics.median(samples), p90)


def build_converter(kit: Path | None) -> Converter:
    settings = Settings(environment="development", validation_kit=kit)
    settings.input.accept_test_ins = True  # the example bundles use the INS test OID
    converter = Runtime(settings).converter
    converter.now = lambda: NOW
    return converter


def default_kit() -> Path | None:
    kit = Path(os.environ.get("FACADE_VALIDATION_KIT", ROOT.parent / "shared" / "conformance-kit"))
    return kit if (kit / "validate.py").is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--kit", type=Path, default=None, help="conformance kit (default: FACADE_VALIDATION_KIT)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    kit = args.kit or default_kit()
    converter = build_converter(kit)
    stages = [s for s in STAGES if s is not xsd or converter.schema is not None]
    if converter.schema is None:
        print("no conformance kit: the xsd stage is skipped and convert runs without the XSD check", file=sys.stderr)

    figures: list[Figure] = []
    entries: dict[str, int] = {}
    floor_ms = FLOOR_MS
    if kit is not None:  # the floor pipeline in this run: ratios survive the machine's load, absolute figures do not
        floor, floor_body = Floor(kit), FLOOR_BUNDLE.read_bytes()
        floor_case = Case("floor", floor_body, converter)
        entries["floor"] = FLOOR_ENTRIES
        figure = measure(lambda _case: floor.run(floor_body), floor_case, args.runs, args.warmup)
        figures.append(Figure("floor", "floor_pipeline", figure.runs, figure.median_ms, figure.p90_ms))
        floor_ms = figure.median_ms
    for name, path in CASES.items():
        case = Case(name, path.read_bytes(), converter)
        entries[name] = case.entries
        for stage in stages:
            figures.append(measure(stage, case, args.runs, args.warmup))

    if args.json:
        print(json.dumps([f.__dict__ for f in figures], indent=1))
        return 0
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU(s); "
        f"{args.runs} runs after {args.warmup} warm-up runs; single thread"
    )
    print(f"{'case':<15} {'entries':>7} {'stage':<14} {'median ms':>10} {'p90 ms':>8} {'x floor':>8}")
    for f in figures:
        ratio = f"{f.median_ms / floor_ms:8.2f}" if f.stage == WHOLE.__name__ else ""
        print(f"{f.case:<15} {entries[f.case]:>7} {f.stage:<14} {f.median_ms:>10.3f} {f.p90_ms:>8.3f} {ratio:>8}")
    print(
        f"x floor = median / {floor_ms:.3f} ms: bench/floor.py ({FLOOR_ENTRIES}-entry CR-BIO bundle -> signed ITI-41 "
        f"MTOM body, stack-notes §8: {FLOOR_MS} ms on an idle machine) measured in this run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
