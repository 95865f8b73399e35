"""A long fuzz run against a real ``facade demo`` (facade + DMP simulator) on loopback (issue 14, "Done when").

    .venv/bin/python bench/fuzz.py --requests 10000 [--seed 1] [--concurrency 4]

Sends seeded random requests to every endpoint: mutated conformance bundles (deleted / replaced / duplicated
fields, wrong types, huge strings, deep nesting, control characters, broken UTF-8, truncation) to ``$preview``,
``POST /fhir`` (inline and ``respond-async``) and ``POST /fhir/DocumentReference``; random bytes and content types;
reads (metadata, OperationDefinition, Task, AuditEvent, health) and unknown paths / wrong methods with hostile
segments and queries. Reports requests, answers by status class, 5xx, error answers that are not an
OperationOutcome, hangs (no answer within --hang seconds) and the demo process's RSS after warm-up, at the end and
at its peak. Exit 1 when any 5xx, non-OperationOutcome error or hang was seen.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json",
    ROOT / "conformance/bundles/cr/text-plain-report.json",
    ROOT / "conformance/bundles/iti105/simplified-publish.json",
]
POSTS = ["/fhir/Bundle/$preview", "/fhir/DocumentReference/$preview", "/fhir", "/fhir/DocumentReference"]
READS = ["/fhir/metadata", "/fhir/OperationDefinition/preview", "/fhir/Task/{x}", "/fhir/AuditEvent", "/health",
         "/fhir/{x}", "/{x}", "/fhir/Task/{x}/"]  # fmt: skip
SPICY = ["", "\x00", "\x0b\x1b[31m", "\ufeff", "\u202e\u0645\u0631", "😀", "e\u0301", "<![CDATA[x]]>",
         "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>", "{{7*7}}", "${jndi:ldap://x}",
         "../../etc/passwd", "urn:oid:", "Patient/", "279035121518989", "9999-99-99", "-0", "1e309", "\r\nX: y",
         "%0d%0aforged", "A" * 5000]  # fmt: skip
FHIR_TYPES = {"OperationOutcome", "Parameters", "Bundle", "Task", "CapabilityStatement", "OperationDefinition"}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = _paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        key, current = path[-1], parent[path[-1]]
        op = rng.choice(["delete", "replace", "duplicate", "wrong-type", "huge", "deep", "control", "null"])
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = rng.choice([*SPICY, 0, -1, 2**70, 1.5, True, [], {}])
        elif op == "duplicate":
            parent[key] = [current, copy.deepcopy(current)]
        elif op == "wrong-type":
            parent[key] = {str: 12345, int: "12345", bool: "true", dict: [current], list: {"0": current}}.get(
                type(current), {"unexpected": True}
            )
        elif op == "huge":
            parent[key] = "Ω" * rng.choice([10_000, 300_000, 3_000_000])
        elif op == "deep":
            parent[key] = json.loads("[" * 60 + "1" + "]" * 60)
        elif op == "control":
            text = current if isinstance(current, str) else json.dumps(current)
            parent[key] = text[: len(text) // 2] + rng.choice(["\x00", "\x07", "\x1f", "\x7f"]) + text
        else:
            parent[key] = None
    return doc


def encode(doc: Any, rng: random.Random) -> bytes:
    body = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", errors="surrogatepass")
    tweak = rng.random()
    if tweak < 0.04:
        body = body[: rng.randrange(len(body) + 1)]
    elif tweak < 0.07:
        at = rng.randrange(len(body) + 1)
        body = body[:at] + b"\xc3\x28\xff" + body[at:]
    elif tweak < 0.09:
        depth = rng.choice([1_000, 100_000])
        body = b"[" * depth + b"1" + b"]" * depth
    if rng.random() < 0.05:
        body = b"\xef\xbb\xbf" + body
    return body


def build_request(rng: random.Random, seeds: list[Any]) -> tuple[str, str, bytes | None, dict[str, str]]:
    kind = rng.random()
    headers = {"content-type": "application/fhir+json"}
    if kind < 0.70:
        path = rng.choice(POSTS)
        if rng.random() < 0.5:
            headers["prefer"] = "respond-async"
        if rng.random() < 0.2:
            headers["idempotency-key"] = rng.choice(["k1", "k2", f"k{rng.randrange(1000)}"])
        return "POST", path, encode(mutate(rng.choice(seeds), rng), rng), headers
    if kind < 0.78:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(2048)))
        headers["content-type"] = rng.choice(["application/fhir+json", "text/plain", "application/xml", "", "a/b;x"])
        return "POST", rng.choice(POSTS), body, headers
    method = rng.choice(["GET", "GET", "GET", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS"])
    segment = quote(rng.choice(SPICY + ["x", "123", "00000000-0000-0000-0000-000000000000"]).encode(), safe="")
    path = rng.choice(READS).replace("{x}", segment)
    if rng.random() < 0.6:
        pairs = [(rng.choice(["date", "patient", "_count", "entity", "x"]), rng.choice(SPICY)) for _ in range(2)]
        path += "?" + "&".join(f"{quote(k)}={quote(v.encode(), safe='')}" for k, v in pairs)
    return method, path, None, {"accept": rng.choice(["application/fhir+json", "*/*", "text/html"])}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hang", type=float, default=60.0, help="seconds without an answer that count as a hang")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="facade-fuzz-"))
    port, sim_port = free_port(), free_port()
    log = open(state / "demo.log", "wb")  # noqa: SIM115 - open for the whole run
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_")}
    demo = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "facade", "demo", "--state", str(state / "demo"), "--port", str(port),
         "--simulator-port", str(sim_port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if demo.poll() is not None or time.monotonic() > deadline:
                print((state / "demo.log").read_text()[-3000:], file=sys.stderr)
                return 2
            time.sleep(0.3)
        seeds = [json.loads(p.read_text(encoding="utf-8-sig")) for p in SEEDS]
        with httpx.Client(base_url=base, timeout=args.hang, trust_env=False) as client:
            for seed in seeds:  # warm-up: templates, schema, model build
                client.post("/fhir/Bundle/$preview", content=json.dumps(seed).encode(),
                            headers={"content-type": "application/fhir+json"})  # fmt: skip
        rss_start = peak = rss_kib(demo.pid)
        statuses: Counter[str] = Counter()
        failures: list[str] = []
        lock = threading.Lock()
        rngs = [random.Random(f"{args.seed}-{n}") for n in range(args.concurrency)]
        per_worker = [args.requests // args.concurrency + (n < args.requests % args.concurrency)
                      for n in range(args.concurrency)]  # fmt: skip

        def worker(n: int) -> None:
            nonlocal peak
            rng = rngs[n]
            limits = httpx.Limits(max_connections=1)
            with httpx.Client(base_url=base, timeout=args.hang, trust_env=False, limits=limits) as client:
                for i in range(per_worker[n]):
                    method, path, body, headers = build_request(rng, seeds)
                    try:
                        r = client.request(method, path, content=body, headers=headers)
                    except httpx.TimeoutException:
                        with lock:
                            statuses["hang"] += 1
                            failures.append(f"hang: {method} {path[:120]}")
                        continue
                    except httpx.HTTPError as exc:
                        with lock:
                            statuses["transport-error"] += 1
                            failures.append(f"{type(exc).__name__}: {method} {path[:120]}")
                        continue
                    problem = _problem(r, path, method)
                    with lock:
                        statuses[f"{r.status_code // 100}xx"] += 1
                        if problem:
                            failures.append(f"{problem}: {method} {path[:120]} -> {r.status_code} {r.text[:200]!r}")
                        if i % 50 == 0:
                            peak = max(peak, rss_kib(demo.pid))

        started = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(worker, range(args.concurrency)))
        elapsed = time.monotonic() - started
        time.sleep(2)
        rss_end = rss_kib(demo.pid)
        peak = max(peak, rss_end)
        total = sum(statuses.values())
        print(f"fuzz: {total} requests in {elapsed:.0f} s (seed {args.seed}, concurrency {args.concurrency})")
        print("answers: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
        print(f"5xx: {statuses['5xx']}, hangs: {statuses['hang']}, other problems: {len(failures)}")
        print(f"demo RSS: {rss_start / 1024:.0f} MiB after warm-up, {rss_end / 1024:.0f} MiB at the end "
              f"(+{(rss_end - rss_start) / 1024:.0f} MiB), peak {peak / 1024:.0f} MiB")  # fmt: skip
        for line in failures[:20]:
            print("  " + line)
        return 1 if failures or statuses["5xx"] else 0
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        log.close()


def _problem(r: httpx.Response, path: str, method: str) -> str | None:
    if r.status_code >= 500:
        return "5xx"
    if not path.startswith("/fhir") or method == "HEAD" or 300 <= r.status_code < 400:
        return None  # the trailing-slash redirect (issue 14 item 8, left to the lead) has no body
    try:
        body = r.json()
    except ValueError:
        return "not JSON"
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if kind not in FHIR_TYPES:
        return "not a FHIR resource"
    if r.status_code >= 400 and kind != "OperationOutcome":
        return "error without OperationOutcome"
    return None


if __name__ == "__main__":
    sys.exit(main())
