"""Issue 12's table, measured against the floor pipeline (bench/floor.py, stack-notes §8) in the same run.

    .venv/bin/python bench/issue12.py                       # every section (about 4 minutes on 2 cores)
    .venv/bin/python bench/issue12.py --only pipeline,e2e   # sections: pipeline e2e throughput memory coldstart
    .venv/bin/python bench/issue12.py --json

Sections (the floor is always measured first, in this process, interleaved with the in-process rows):
* ``pipeline``: floor vs ``Converter.convert`` of the 20-entry CR-BIO bundle (bench/fixtures/cr-bio-20.json, 11
  Observations, XSD on) vs the signed ITI-41 MTOM body (convert + XAdES + ebRIM + VIHF + envelope + MTOM), run
  round-robin so load drifts hit all alike; p99/p50 of the conversion (the UCUM unit check is cached per unit in
  the mapping itself, so after the warm-up rounds each distinct unit has been parsed once, as in a running facade);
* ``e2e``: ``facade serve`` and ``facade simulator`` as two processes, mutual TLS to the simulator, one keep-alive
  client, N sequential POST /fhir (PDF letter, then CR-BIO), against floor + one keep-alive mTLS round trip;
* ``throughput``: 32 client threads, PDF letter, 1 then 2 facade worker processes (``--workers``); CPU per
  delivered submission of the facade (all its processes) and of the simulator, read from /proc;
* ``memory``: peak RSS growth of one facade process for a PDF of 5 / 10 / 20 MB (VmHWM reset before each POST);
* ``coldstart``: process start to the first 200 of GET /fhir/metadata and to the first $preview 200.

Ratios: "x floor throughput" = floor median / median (the issue's convention; 1.0 = as fast as the floor);
"x floor" for latency and CPU = figure / floor figure. No assertions on timings: this prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.floor import Floor  # noqa: E402
from bench.procs import (  # noqa: E402
    BenchStack,
    BundleFactory,
    CrBioFactory,
    cpu_seconds,
    descendants,
    pdf_bundle,
    reset_peak_rss,
    status_kb,
)
from facade.cli import demo_settings  # noqa: E402
from facade.pki import init_test_pki  # noqa: E402
from facade.runtime import Runtime  # noqa: E402
from facade.settings import PROJECT_ROOT, FacilityConfig, Settings  # noqa: E402

SECTIONS = ("pipeline", "e2e", "throughput", "memory", "coldstart")
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
CR_BIO = (PROJECT_ROOT / "bench" / "fixtures" / "cr-bio-20.json").read_bytes()


def stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "p90": ordered[int(0.9 * (len(ordered) - 1))],
        "p99": ordered[int(0.99 * (len(ordered) - 1))],
        "n": len(ordered),
    }


def kit_path() -> Path:
    kit = Path(os.environ.get("FACADE_VALIDATION_KIT", PROJECT_ROOT.parent / "shared" / "conformance-kit"))
    if not (kit / "validate.py").is_file():
        raise SystemExit(f"the conformance kit is needed (XSD on): not found at {kit}; set FACADE_VALIDATION_KIT")
    return kit


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def cpu_timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, CPU ms of this thread): CPU time is what load on a shared machine distorts least."""
    start, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - start) * 1000, (time.thread_time() - cpu) * 1000


def floor_only(floor: Floor, runs: int) -> dict[str, Any]:
    for _ in range(20):
        floor.run(CR_BIO)
    wall, cpu = zip(*(cpu_timed(lambda: floor.run(CR_BIO)) for _ in range(runs)), strict=True)
    return {**stats(list(wall)), "cpu": stats(list(cpu))}


# ------------------------------------------------------------------------------------------------ in-process


def pipeline(floor: Floor, runs: int, work: Path) -> dict[str, Any]:
    facility = FacilityConfig()
    pki = init_test_pki(work / "pki", structure_id="1" + facility.finess_ej, org_name=facility.site_name.upper())
    settings = cast(Settings, demo_settings(work / "state", "https://127.0.0.1:9/repository", pki))
    settings.validation_kit = kit_path()
    runtime = Runtime(settings)
    converter, feeder = runtime.converter, runtime.feeder
    assert converter.schema is not None, "XSD must be on"

    def signed_body() -> bytes:
        return feeder.build_request(feeder.prepare(converter.convert(CR_BIO))).body

    rows: dict[str, Callable[[], object]] = {
        "floor": lambda: floor.run(CR_BIO),
        "convert": lambda: converter.convert(CR_BIO),
        "signed_body": signed_body,
    }
    for fn in rows.values():
        for _ in range(20):
            fn()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for i in range(runs):
        order = list(rows.items())
        if i % 2:
            order.reverse()
        for name, fn in order:
            samples[name].append(cpu_timed(fn))
    out: dict[str, Any] = {}
    for name, pairs in samples.items():
        wall, cpu = zip(*pairs, strict=True)
        out[name] = {**stats(list(wall)), "cpu": stats(list(cpu))}
    out["cda_bytes"] = {"facade": len(converter.convert(CR_BIO).documents[0].cda), "floor": floor.cda_bytes}
    return out


# ------------------------------------------------------------------------------------------------ processes


def rtt_ms(stack: BenchStack, n: int = 200) -> float:
    """One keep-alive mutual-TLS round trip to the simulator (its smallest admin answer)."""
    client = stack.sim_client()
    for _ in range(20):
        client.get("/_simulator/script")
    return statistics.median([timed(lambda: client.get("/_simulator/script")) for _ in range(n)])


def sequential(stack: BenchStack, bodies: list[bytes], warmup: int) -> dict[str, Any]:
    assert stack.facade is not None and stack.simulator is not None
    ms: list[float] = []
    with httpx.Client(timeout=60.0, trust_env=False) as client:
        for i, body in enumerate(bodies):
            if i == warmup:
                facade_cpu, sim_cpu = cpu_seconds(stack.facade.pid), cpu_seconds(stack.simulator.pid)
            start = time.perf_counter()
            r = client.post(stack.fhir_base, content=body, headers=FHIR)
            elapsed = (time.perf_counter() - start) * 1000
            if r.status_code != 200:
                raise SystemExit(f"POST {i}: HTTP {r.status_code}: {r.text[:800]}")
            if i >= warmup:
                ms.append(elapsed)
    n = len(ms)
    return {
        "latency": stats(ms),
        "facade_cpu_ms": (cpu_seconds(stack.facade.pid) - facade_cpu) * 1000 / n,
        "simulator_cpu_ms": (cpu_seconds(stack.simulator.pid) - sim_cpu) * 1000 / n,
    }


def e2e(root: Path, n: int, warmup: int) -> dict[str, Any]:
    stack = BenchStack(root)
    try:
        stack.start_simulator()
        stack.start_facade()
        rtt = rtt_ms(stack)
        letters = BundleFactory()
        pdf = sequential(stack, [letters.submission(i).body for i in range(warmup + n)], warmup)
        labs = CrBioFactory(f"{os.getpid() % 10000:04d}")
        lab = sequential(stack, [labs.body(i) for i in range(warmup + n)], warmup)
    finally:
        stack.stop()
    return {"rtt_ms": rtt, "pdf_letter": pdf, "cr_bio": lab}


def throughput(root: Path, n: int, clients: int, workers: int) -> dict[str, Any]:
    stack = BenchStack(root / f"w{workers}", workers=workers)
    try:
        stack.start_simulator()
        stack.start_facade()
        assert stack.facade is not None and stack.simulator is not None
        factory = BundleFactory()
        bodies = [factory.submission(i).body for i in range(n + clients)]
        answers: dict[int, int] = {}
        with httpx.Client(timeout=120.0, trust_env=False, limits=httpx.Limits(max_connections=clients)) as client:

            def post(i: int) -> None:
                answers[i] = client.post(stack.fhir_base, content=bodies[i], headers=FHIR).status_code

            with ThreadPoolExecutor(clients) as pool:  # warm-up: one per client (connections, first requests)
                list(pool.map(post, range(n, n + clients)))
            stack.wait_until_settled(120)
            facade_cpu, sim_cpu = cpu_seconds(stack.facade.pid), cpu_seconds(stack.simulator.pid)
            client_cpu = time.process_time()  # the 32 clients are this process's threads: they share the 2 cores
            start = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(post, range(n)))
            answered = time.perf_counter() - start
            client_cpu = time.process_time() - client_cpu
            stack.wait_until_settled(300)
            settled = time.perf_counter() - start
        facade_cpu = cpu_seconds(stack.facade.pid) - facade_cpu
        sim_cpu = cpu_seconds(stack.simulator.pid) - sim_cpu
        workers_rss = [status_kb(p, "VmRSS") / 1024 for p in descendants(stack.facade.pid)[1:] or [stack.facade.pid]]
    finally:
        stack.stop()
    codes = sorted(set(answers.values()))
    return {
        "workers": workers,
        "n": n,
        "answers": {str(c): sum(1 for v in answers.values() if v == c) for c in codes},
        "per_second": n / settled,
        "answered_per_second": n / answered,
        "facade_cpu_ms": facade_cpu * 1000 / n,
        "simulator_cpu_ms": sim_cpu * 1000 / n,
        "client_cpu_ms": client_cpu * 1000 / n,
        # what the machine allows when every process shares its cores: no worker count can go past it
        "machine_ceiling_per_second": (os.cpu_count() or 1) / (facade_cpu + sim_cpu + client_cpu) * n,
        "rss_mb_per_process": statistics.fmean(workers_rss),
    }


def memory(root: Path, sizes_mb: tuple[int, ...]) -> dict[str, Any]:
    stack = BenchStack(root)
    out: dict[str, Any] = {}
    try:
        stack.start_simulator()
        stack.start_facade()
        assert stack.facade is not None
        pid = stack.facade.pid
        factory = BundleFactory()
        with httpx.Client(timeout=120.0, trust_env=False) as client:
            for i in range(3):  # warm-up: first-request imports and caches are not payload memory
                client.post(stack.fhir_base, content=factory.submission(1000 + i).body, headers=FHIR)
            for n, mb in enumerate(sizes_mb):
                body = pdf_bundle(factory, n, mb * 1024 * 1024)
                time.sleep(0.5)
                base = status_kb(pid, "VmRSS")
                reset_peak_rss(pid)
                r = client.post(stack.fhir_base, content=body, headers=FHIR)
                if r.status_code != 200:
                    raise SystemExit(f"{mb} MB: HTTP {r.status_code}: {r.text[:800]}")
                growth = (status_kb(pid, "VmHWM") - base) / 1024
                out[f"{mb}MB"] = {"growth_mb": growth, "x_payload": growth / mb, "body_mb": len(body) / 2**20}
                del body
    finally:
        stack.stop()
    return out


def coldstart(root: Path, runs: int) -> dict[str, Any]:
    """`facade serve` without sending configured (conversion only): to first metadata 200 and first $preview 200."""
    first_200: list[float] = []
    first_preview: list[float] = []
    body = (PROJECT_ROOT / "conformance" / "bundles" / "ldl-ses" / "pdf-discharge-letter.json").read_bytes()
    for i in range(runs):
        stack = BenchStack(root / f"c{i}")
        env = stack.facade_env()
        env.pop("FACADE_DMP__REPOSITORY_URL", None)
        cmd = [sys.executable, "-m", "facade", "serve", "--port", str(stack.facade_port)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{stack.facade_port}/fhir"
            with httpx.Client(timeout=30.0, trust_env=False) as client:
                while True:
                    try:
                        if client.get(f"{base}/metadata").status_code == 200:
                            break
                    except httpx.HTTPError:
                        if proc.poll() is not None or time.perf_counter() - start > 60:
                            raise SystemExit("the facade did not start") from None
                        time.sleep(0.01)
                first_200.append(time.perf_counter() - start)
                r = client.post(f"{base}/Bundle/$preview", content=body, headers=FHIR)
                if r.status_code != 200:
                    raise SystemExit(f"$preview: HTTP {r.status_code}")
                first_preview.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return {"first_200_s": stats(first_200), "first_preview_s": stats(first_preview)}


# ------------------------------------------------------------------------------------------------ report


def fmt(s: dict[str, float], unit: str = "ms") -> str:
    return f"{s['median']:.2f} {unit} ({s['min']:.2f}-{s['max']:.2f})"


def report(r: dict[str, Any]) -> None:
    m = r["machine"]
    fl, fl_cpu = r["floor"]["median"], r["floor"]["cpu"]["median"]
    print(f"{r['date']}  {m['cpus']} CPUs, Python {m['python']}, load {m['load']:.2f} at start; {r['command']}")
    print(f"floor (bench/floor.py, cr-bio-20 -> signed ITI-41 MTOM body): wall {fmt(r['floor'])}, CPU {fl_cpu:.2f} ms")
    if p := r.get("pipeline"):
        print(f"  CDA bytes: facade {p['cda_bytes']['facade']}, floor {p['cda_bytes']['floor']}")
        pf, pf_cpu = p["floor"]["median"], p["floor"]["cpu"]["median"]
        print(f"{'floor (same rounds)':<28}{fmt(p['floor']):<30} CPU {pf_cpu:.2f} ms")
        for name in ("convert", "signed_body", "convert_ucum_memoised"):
            if name not in p:
                continue
            x = p[name]
            print(
                f"{name:<28}{fmt(x):<30} CPU {x['cpu']['median']:.2f} ms   x floor throughput: "
                f"{pf / x['median']:.2f} (wall), {pf_cpu / x['cpu']['median']:.2f} (CPU)"
            )
        c = p["convert"]
        print(f"{'p99/p50 of convert':<28}{c['p99'] / c['median']:.2f}  (p99 {c['p99']:.2f} ms)")
    if e := r.get("e2e"):
        fl, fl_cpu = e["floor"]["median"], e["floor"]["cpu"]["median"]
        print(f"e2e: floor just before: wall {fmt(e['floor'])}, CPU {fl_cpu:.2f} ms")
        base, base_cpu = fl + e["rtt_ms"], fl_cpu + e["rtt_ms"]
        print(
            f"e2e: keep-alive mTLS round trip {e['rtt_ms']:.2f} ms; floor + 1 RTT = {base:.2f} ms (wall), "
            f"{base_cpu:.2f} ms (floor CPU)"
        )
        for name in ("pdf_letter", "cr_bio"):
            x = e[name]
            p50 = x["latency"]["median"]
            print(
                f"  {name:<26}{fmt(x['latency']):<30} x (floor+RTT) {p50 / base:.2f} wall, {p50 / base_cpu:.2f} CPU   "
                f"facade CPU {x['facade_cpu_ms']:.2f} ms/subm. (x{x['facade_cpu_ms'] / fl_cpu:.2f} floor CPU), "
                f"simulator CPU {x['simulator_cpu_ms']:.2f}"
            )
    if t := r.get("throughput"):
        one = t[0]["per_second"]
        for x in t:
            fl_cpu = x["floor"]["cpu"]["median"]
            print(
                f"throughput {x['workers']} worker(s), 32 clients, {x['n']} PDF letters (floor CPU just after "
                f"{fl_cpu:.2f} ms): {x['per_second']:.1f}/s "
                f"(x{x['per_second'] / one:.2f} of 1 worker; answers {x['answers']}); facade CPU "
                f"{x['facade_cpu_ms']:.2f} ms/subm. = x{x['facade_cpu_ms'] / fl_cpu:.2f} floor CPU; simulator CPU "
                f"{x['simulator_cpu_ms']:.2f} ms/subm.; clients' CPU {x['client_cpu_ms']:.2f} ms/subm.; the cores "
                f"shared by all three allow {x['machine_ceiling_per_second']:.1f}/s; "
                f"RSS {x['rss_mb_per_process']:.0f} MB per facade process"
            )
    if mem := r.get("memory"):
        for size, x in mem.items():
            print(f"peak RSS growth, PDF {size}: +{x['growth_mb']:.0f} MB = {x['x_payload']:.1f}x the payload")
    if cs := r.get("coldstart"):
        print(f"cold start: first 200 {fmt(cs['first_200_s'], 's')}, first $preview {fmt(cs['first_preview_s'], 's')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--runs", type=int, default=300, help="in-process rounds (default 300)")
    parser.add_argument("--n", type=int, default=200, help="sequential POSTs per bundle in e2e (default 200)")
    parser.add_argument("--tn", type=int, default=600, help="submissions per throughput run (default 600)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    if unknown := set(only) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}")
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()[0]},
        "command": " ".join(["bench/issue12.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    floor = Floor(kit_path())
    result["floor"] = floor_only(floor, args.runs)
    work = Path(tempfile.mkdtemp(prefix="bench-issue12-"))
    try:
        if "pipeline" in only:
            result["pipeline"] = pipeline(floor, args.runs, work / "pipeline")
        # the floor again just before each process section: the load of the machine moves between sections
        if "e2e" in only:
            ref = floor_only(floor, 100)
            result["e2e"] = {**e2e(work / "e2e", args.n, 20), "floor": ref}
        if "throughput" in only:
            result["throughput"] = [
                {**throughput(work / "tp", args.tn, args.clients, w), "floor": floor_only(floor, 100)} for w in (1, 2)
            ]
        if "memory" in only:
            result["memory"] = memory(work / "mem", (5, 10, 20))
        if "coldstart" in only:
            result["coldstart"] = coldstart(work / "cold", 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda a: print(f"thread failed: {a.exc_value!r}", file=sys.stderr)
    sys.exit(main())
