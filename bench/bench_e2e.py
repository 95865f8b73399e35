"""End-to-end benchmark: time per submission through the real HTTP stack, against the DMP simulator over mutual TLS.

    python bench/bench_e2e.py [--n 200] [--warmup 10] [--bundle ldl-ses/pdf-discharge-letter.json] [--json]

Set-up (all in this process, like `facade demo`): a test PKI in a temporary folder, the DMP simulator
(``SimulatorServer``, mutual TLS, TLS 1.2, VIHF/XAdES/metadata checks, SQLite registry, verbatim inbox), the facade app
(``create_app(demo_settings(...))``) served by uvicorn in a thread, and one keep-alive ``httpx.Client`` posting N
distinct bundles sequentially (each iteration changes the fullUrls/entryUUIDs, the DocumentReference masterIdentifier
and the List identifier, so every POST is a new submission, not an idempotent replay). The background relay is off:
each POST is converted, prepared, stored and sent inline, and must answer 200.

Stages are timed by wrapping the runtime's components (no code in ``facade`` knows about the benchmark):
``convert`` (parse, map, render, XSD), ``prepare`` (XAdES lot signature + SubmitObjectsRequest), ``outbox`` (SQLite
store: enqueue, lease, complete, reads, audit rows), ``vihf+envelope``
(fresh VIHF, SOAP envelope, MTOM), ``send`` (mutual TLS round trip, which includes ``simulator``: the simulator's
own processing, in this same process and under the same GIL), and ``rest`` (HTTP server and middleware, threadpool
hand-offs, answer). No assertions on timings: this prints figures for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import uvicorn

from facade.app import create_app
from facade.cli import demo_settings
from facade.pki import init_test_pki
from facade.runtime import Runtime
from facade.settings import PROJECT_ROOT, FacilityConfig, Settings
from facade.simulator import SimulatorConfig, SimulatorServer

BUNDLES = PROJECT_ROOT / "conformance" / "bundles"
UUID_PREFIX = "6f1c2d3e-4a5b-4c6d-8e7f"  # every fullUrl / entryUUID of the example bundles starts with it
STAGES = ("convert", "prepare", "outbox", "vihf+envelope", "send", "simulator")
OUTBOX_METHODS = ("enqueue", "claim_id", "complete", "fail", "get", "find_by_idempotency_key")
T = TypeVar("T")


class Timings:
    """Per-request stage durations (sequential requests: the current request is the last row)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def new_request(self) -> None:
        self.rows.append(defaultdict(float))

    def wrap(self, stage: str, fn: Callable[..., T]) -> Callable[..., T]:
        def timed(*args: Any, **kwargs: Any) -> T:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.rows:
                    self.rows[-1][stage] += time.perf_counter() - start

        return timed


def distinct_bundle(template: str, i: int) -> bytes:
    """Iteration ``i`` of the template: new fullUrls/entryUUIDs, document uniqueIds and submission set uniqueId."""
    text = template.replace(UUID_PREFIX, f"{i:08x}-4a5b-4c6d-8e7f")
    for root in ("1.2.250.1.999.1.1.100.", "1.2.250.1.999.1.1.200."):  # masterIdentifier / List identifier
        text = text.replace(f'"urn:oid:{root}', f'"urn:oid:{root}{i + 1000}0')
    return text.encode()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """uvicorn (h11, plain HTTP on loopback) in a thread; yields the base URL."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listener says TCP; with proto 0
    # every response waits ~40 ms (Nagle + delayed ACK) between its header and body writes
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("the facade did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def instrument(runtime: Runtime, simulator: SimulatorServer, timings: Timings) -> None:
    converter, feeder, transport, outbox = runtime.converter, runtime.feeder, runtime.transport, runtime.outbox
    for name in OUTBOX_METHODS:  # store writes (each one a committed transaction) and reads
        setattr(outbox, name, timings.wrap("outbox", getattr(outbox, name)))
    converter.convert = timings.wrap("convert", converter.convert)  # type: ignore[method-assign]
    feeder.prepare = timings.wrap("prepare", feeder.prepare)  # type: ignore[method-assign]
    feeder.build_request = timings.wrap("vihf+envelope", feeder.build_request)  # type: ignore[method-assign]
    transport.send = timings.wrap("send", transport.send)  # type: ignore[method-assign]
    processor = simulator.simulator.processor
    processor.handle = timings.wrap("simulator", processor.handle)  # type: ignore[method-assign]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(n: int, warmup: int, bundle_name: str) -> dict[str, Any]:
    template = (BUNDLES / bundle_name).read_text(encoding="utf-8")
    facility = FacilityConfig()
    structure = "1" + facility.finess_ej
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        state = Path(tmp)
        pki = init_test_pki(state / "pki", structure_id=structure, org_name=facility.site_name.upper())
        config = SimulatorConfig(structures={structure: frozenset({"1" + facility.finess_eg})})
        with SimulatorServer(
            state / "simulator",
            ca_cert=pki.ca_cert,
            server_cert=pki.server_cert,
            server_key=pki.server_key,
            config=config,
        ) as simulator:
            settings = cast(Settings, demo_settings(state / "facade", simulator.url, pki))
            settings.outbox.relay = False
            runtime = Runtime(settings)
            timings = Timings()
            instrument(runtime, simulator, timings)
            totals: list[float] = []
            with served(create_app(settings, runtime)) as base, httpx.Client(base_url=base, timeout=60) as client:
                for i in range(warmup + n):
                    body = distinct_bundle(template, i)
                    timings.new_request()
                    start = time.perf_counter()
                    response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
                    elapsed = time.perf_counter() - start
                    if response.status_code != 200:
                        raise SystemExit(f"request {i}: HTTP {response.status_code}: {response.text[:500]}")
                    if i >= warmup:
                        totals.append(elapsed)
            rows = timings.rows[warmup:]
            stored = len([d for d in simulator.simulator.registry.documents() if not d.is_signature])

    ms = [t * 1000 for t in totals]
    stages: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        values = [r.get(stage, 0.0) * 1000 for r in rows]
        stages[stage] = {
            "median": statistics.median(values),
            "p90": percentile(values, 0.9),
            "mean": statistics.fmean(values),
        }
    accounted = [sum(r.get(s, 0.0) for s in STAGES if s != "simulator") * 1000 for r in rows]
    rest = [t - a for t, a in zip(ms, accounted, strict=True)]
    stages["rest"] = {"median": statistics.median(rest), "p90": percentile(rest, 0.9), "mean": statistics.fmean(rest)}
    return {
        "bundle": bundle_name,
        "n": n,
        "warmup": warmup,
        "documents_stored": stored,
        "total": {
            "median": statistics.median(ms),
            "p90": percentile(ms, 0.9),
            "mean": statistics.fmean(ms),
            "min": min(ms),
            "max": max(ms),
        },
        "stages": stages,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "load_average": os.getloadavg()[0],
        },
    }


def print_table(result: dict[str, Any]) -> None:
    total = result["total"]
    m = result["machine"]
    print(
        f"bundle {result['bundle']}: {result['n']} sequential POSTs (+{result['warmup']} warm-up), keep-alive, "
        f"{m['cpus']} CPUs, Python {m['python']}, load {m['load_average']:.2f}"
    )
    print(f"{'stage':<16}{'median ms':>11}{'p90 ms':>10}{'mean ms':>10}{'share':>8}")
    for stage, figures in result["stages"].items():
        share = figures["mean"] / total["mean"]
        label = f"  ({stage})" if stage == "simulator" else stage  # part of send
        print(f"{label:<16}{figures['median']:>11.2f}{figures['p90']:>10.2f}{figures['mean']:>10.2f}{share:>8.1%}")
    print(f"{'TOTAL':<16}{total['median']:>11.2f}{total['p90']:>10.2f}{total['mean']:>10.2f}{1:>8.0%}")
    stored = result["documents_stored"]
    print(f"min {total['min']:.2f} ms, max {total['max']:.2f} ms; documents stored by the simulator: {stored}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200, help="measured submissions (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured submissions first (default 10)")
    parser.add_argument("--bundle", default="ldl-ses/pdf-discharge-letter.json", help="under conformance/bundles/")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("facade").setLevel(logging.WARNING)
    result = run(args.n, args.warmup, args.bundle)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
