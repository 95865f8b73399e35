"""Where the facade process spends its time end to end: py-spy samples of `facade serve` while one keep-alive client
posts N bundles (the simulator in its own process), summarised by stage.

    .venv/bin/pip install py-spy    # a profiler, not a facade dependency
    .venv/bin/python bench/profile_e2e.py pdf   [--n 150] [--raw /tmp/pdf.txt]
    .venv/bin/python bench/profile_e2e.py crbio [--n 150]

Samples of threads blocked in a wait (relay polling, thread pool idling) are left out; the TLS socket reads and the
SQLite COMMIT (fsync, synchronous=FULL) are counted apart: they are time spent waiting for the DMP or the disk, not
CPU. Shares are of the remaining samples.
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procs import BenchStack, BundleFactory, CrBioFactory  # noqa: E402

FHIR = {"Content-Type": "application/fhir+json"}
WAITING = re.compile(r"\b(select|epoll|poll|wait|_wait|sleep|acquire|accept)\b")
# (label, substring of a frame anywhere in the stack); first match wins
STAGES = (
    ("UCUM unit check (lark Earley parse)", "ucum_error"),
    ("FHIR parse (R4B + input checks)", "parse_request"),
    ("mapping (other)", "to_submission"),
    ("CDA render + parse + C14N (+XSD when the renderer has it)", "render_tree"),
    ("CDA XSD", "_check ("),
    ("XAdES lot signature", "xades.py"),
    ("ebRIM SubmitObjectsRequest", "submit_objects_request"),
    ("VIHF (signxml)", "saml.py"),
    ("SOAP envelope + MTOM", "build_provide_and_register"),
    ("outbox (SQLite, other than COMMIT)", "outbox/sqlite.py"),
    ("transport send (httpx over TLS)", "transport/mtls.py"),
    ("DMP answer check", "check_response"),
    ("logging", "facade/logs/"),
    ("logging", "logging/"),
    ("HTTP server / ASGI (uvicorn, starlette, anyio)", "uvicorn/"),
    ("HTTP server / ASGI (uvicorn, starlette, anyio)", "starlette/"),
    ("HTTP server / ASGI (uvicorn, starlette, anyio)", "anyio/"),
    ("outbox / relay (other)", "outbox/"),
)


def summarise(raw: Path) -> list[tuple[str, float]]:
    buckets: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n, leaf = int(count), stack.split(";")[-1]
        if WAITING.search(leaf) and "ucum" not in stack:
            continue
        if "SSLSocket." in leaf:
            buckets["waiting: DMP round trip (TLS socket I/O while the simulator works)"] += n
        elif "sqlite.py" in leaf and "_transaction" in leaf:
            buckets["waiting: SQLite BEGIN/COMMIT (lock, fsync with synchronous=FULL)"] += n
        else:
            buckets[next((label for label, pat in STAGES if pat in stack), "other")] += n
    total = sum(buckets.values())
    return [(label, 100 * n / total) for label, n in buckets.most_common()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("kind", choices=("pdf", "crbio"))
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    raw = args.raw or Path(tempfile.mkdtemp()) / "stacks.txt"
    stack = BenchStack(Path(tempfile.mkdtemp(prefix="bench-profile-")))
    stack.start_simulator()
    stack.start_facade()
    try:
        assert stack.facade is not None
        labs = CrBioFactory("9999")
        letters = BundleFactory()
        body = labs.body if args.kind == "crbio" else (lambda i: letters.submission(i).body)
        with httpx.Client(timeout=60.0, trust_env=False) as client:
            for i in range(10):
                client.post(stack.fhir_base, content=body(i), headers=FHIR)
            spy = subprocess.Popen(  # noqa: S603
                [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(stack.facade.pid), "-o", str(raw),
                 "--format", "raw", "-r", "200", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
            for i in range(10, 10 + args.n):
                r = client.post(stack.fhir_base, content=body(i), headers=FHIR)
                if r.status_code != 200:
                    raise SystemExit(f"POST {i}: HTTP {r.status_code}: {r.text[:500]}")
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
    finally:
        stack.stop()
    print(f"facade process, {args.n} sequential POSTs ({args.kind}); share of non-idle samples:")
    for label, share in summarise(raw):
        print(f"{share:5.1f} %  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
