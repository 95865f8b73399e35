"""Process helpers for bench/issue12.py: the facade and the simulator as child processes (tests/resilience/harness),
their CPU time and memory read from /proc, distinct bundles of each kind."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from facade.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # the process harness lives with the tests
from tests.resilience.harness import BundleFactory, FacadeTuning, Stack, _tail  # noqa: E402

CR_BIO_20 = PROJECT_ROOT / "bench" / "fixtures" / "cr-bio-20.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the facade's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (live ones: read before they exit)."""
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux clear_refs 5), so each measurement has its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class BenchStack(Stack):
    """The harness's two processes, with the kit, bench sizes and ``facade serve --workers N``."""

    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)

    def facade_env(self) -> dict[str, str]:
        env = super().facade_env()
        env.update(
            {
                "FACADE_INPUT__MAX_BODY_BYTES": str(40 * 1024 * 1024),
                "FACADE_INPUT__MAX_DOCUMENT_BYTES": str(24 * 1024 * 1024),
                "FACADE_LOGGING__LEVEL": "WARNING",
                **self.extra_env,
            }
        )
        return env

    def start_facade(self, timeout: float = 60.0) -> None:
        """Like the harness, plus ``--workers``; returns once /health answers."""
        self.facade_starts += 1
        log = self.root / f"facade-{self.facade_starts}.log"
        cmd = [sys.executable, "-m", "facade", "serve", "--port", str(self.facade_port)]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        with open(log, "ab") as out:
            self.facade = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.facade_env())  # noqa: S603
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while True:
                if self.facade.poll() is not None:
                    raise RuntimeError(f"the facade exited ({self.facade.returncode}):\n{_tail(log)}")
                try:
                    if client.get(f"http://127.0.0.1:{self.facade_port}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the facade did not start in {timeout}s:\n{_tail(log)}")
                time.sleep(0.05)


class CrBioFactory:
    """Distinct copies of the 20-entry CR-BIO bundle: new fullUrls and a new report identifier per copy (the
    document uniqueId and the SubmissionSet are derived from them or generated)."""

    def __init__(self, tag: str) -> None:
        self.text = CR_BIO_20.read_text(encoding="utf-8")
        self.tag = tag

    def body(self, n: int) -> bytes:
        text = self.text.replace("00000000-0000-4000-8000-", f"{n:08x}-{self.tag[:4]}-4000-8000-")
        return text.replace('"DEM-2024-000123"', f'"DEM-{self.tag}-{n}"').encode()


def pdf_bundle(factory: BundleFactory, n: int, size: int) -> bytes:
    """The PDF letter with a ``size``-byte PDF (random bytes behind a PDF header, so nothing compresses)."""
    bundle = factory.bundle(n)
    pdf = b"%PDF-1.4\n" + os.urandom(size - 9)
    resources = {e.get("fullUrl"): e["resource"] for e in bundle["entry"]}
    for resource in resources.values():
        if resource["resourceType"] == "DocumentReference":
            attachment = resource["content"][0]["attachment"]
            attachment.pop("size", None)
            attachment.pop("hash", None)
            resources[attachment["url"]]["data"] = base64.b64encode(pdf).decode("ascii")
    return json.dumps(bundle).encode()


__all__ = [
    "BenchStack",
    "BundleFactory",
    "CrBioFactory",
    "FacadeTuning",
    "cpu_seconds",
    "descendants",
    "pdf_bundle",
    "reset_peak_rss",
    "status_kb",
]
