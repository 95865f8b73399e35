"""Two real processes, as in production: the DMP simulator (`facade simulator`, mutual TLS, persistent registry) and
the facade (`facade serve`, FACADE_* environment, SQLite outbox in a state folder). Used by the crash, soak and
idempotency tests and by ``bench/soak.py``.

Also: many distinct, valid ITI-65 bundles made from the PDF discharge-letter example (new masterIdentifier, setId,
entryUUID and SubmissionSet identifiers per bundle), and readers for what the simulator stored.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from facade.mapping.document import IDENTIFIER_TYPE_SYSTEM, SET_ID_TYPE
from facade.outbox.sqlite import SqliteOutbox
from facade.pki import TestPki
from facade.settings import PROJECT_ROOT
from facade.simulator.config import REPOSITORY_PATH

EXAMPLE_BUNDLE = PROJECT_ROOT / "conformance" / "bundles" / "ldl-ses" / "pdf-discharge-letter.json"
FHIR_JSON = "application/fhir+json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------------ bundles


@dataclass(frozen=True)
class Submission:
    """One distinct bundle: its body and the document uniqueId the DMP must end up holding exactly once."""

    number: int
    body: bytes
    unique_id: str
    idempotency_key: str | None = None
    respond_async: bool = False

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        if self.idempotency_key:
            headers["Idempotency-Key"] = self.idempotency_key
        if self.respond_async:
            headers["Prefer"] = "respond-async"
        return headers


class BundleFactory:
    """Distinct copies of the example: masterIdentifier (document uniqueId), a setId identifier, the List
    (SubmissionSet) identifiers, and every entry's ``urn:uuid`` fullUrl (the DocumentReference's becomes the XDS
    entryUUID, which the simulated registry keeps unique too) change. OIDs live under ``root`` (one root per run,
    so reruns against a kept simulator state do not collide)."""

    def __init__(self, root: str | None = None, template: Path = EXAMPLE_BUNDLE) -> None:
        self.root = root or f"1.2.250.1.999.77.{uuid.uuid4().int % 10**12}"
        self.template = json.loads(template.read_text(encoding="utf-8"))

    def unique_id(self, n: int) -> str:
        return f"{self.root}.{n}.1"

    def bundle(self, n: int) -> dict[str, Any]:
        bundle = copy.deepcopy(self.template)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "DocumentReference":
                resource["masterIdentifier"]["value"] = f"urn:oid:{self.unique_id(n)}"
                resource["identifier"] = [
                    {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
                    {
                        "use": "usual",
                        "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": SET_ID_TYPE}]},
                        "system": "urn:ietf:rfc:3986",
                        "value": f"urn:oid:{self.root}.{n}.2",
                    },
                ]
            elif resource["resourceType"] == "List":
                resource["identifier"] = [
                    {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:{self.root}.{n}.3"},
                    {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
                ]
        # new fullUrls, and every reference to them (List items, subject, author, attachment.url...)
        text = json.dumps(bundle, ensure_ascii=False)
        for entry in self.template["entry"]:
            old = entry.get("fullUrl", "")
            if old.startswith("urn:uuid:"):
                text = text.replace(f'"{old}"', f'"urn:uuid:{uuid.uuid4()}"')
        renamed: dict[str, Any] = json.loads(text)
        return renamed

    def submission(
        self, n: int, *, idempotency_key: str | None = None, respond_async: bool = False
    ) -> Submission:
        body = json.dumps(self.bundle(n), ensure_ascii=False).encode("utf-8")
        return Submission(n, body, self.unique_id(n), idempotency_key, respond_async)


# ---------------------------------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class FacadeTuning:
    """Short timeouts and retries so a test finishes in seconds (production defaults are minutes)."""

    connect_timeout: float = 2.0
    read_timeout: float = 8.0
    write_timeout: float = 2.0
    pool_timeout: float = 2.0
    lease_seconds: float = 15.0  # outlasts pool + connect + write + read: the facade refuses to start otherwise
    retry_base_seconds: float = 0.5
    retry_factor: float = 2.0
    retry_max_delay_seconds: float = 2.0
    poll_seconds: float = 0.2

    def env(self) -> dict[str, str]:
        return {
            "FACADE_DMP__CONNECT_TIMEOUT": str(self.connect_timeout),
            "FACADE_DMP__READ_TIMEOUT": str(self.read_timeout),
            "FACADE_DMP__WRITE_TIMEOUT": str(self.write_timeout),
            "FACADE_DMP__POOL_TIMEOUT": str(self.pool_timeout),
            "FACADE_OUTBOX__LEASE_SECONDS": str(self.lease_seconds),
            "FACADE_OUTBOX__RETRY_BASE_SECONDS": str(self.retry_base_seconds),
            "FACADE_OUTBOX__RETRY_FACTOR": str(self.retry_factor),
            "FACADE_OUTBOX__RETRY_MAX_DELAY_SECONDS": str(self.retry_max_delay_seconds),
            "FACADE_OUTBOX__POLL_SECONDS": str(self.poll_seconds),
        }


@dataclass
class Stack:
    """The simulator and the facade as child processes over one work folder::

    root/pki        test PKI (created by `facade simulator`)
    root/simulator  simulator state: registry.sqlite, documents/, inbox/, script.json
    root/facade     facade state: facade.sqlite (outbox), patient-hash.secret
    root/*.log      process output
    """

    root: Path
    tuning: FacadeTuning = field(default_factory=FacadeTuning)
    sim_port: int = field(default_factory=free_port)
    facade_port: int = field(default_factory=free_port)
    simulator: subprocess.Popen[bytes] | None = None
    facade: subprocess.Popen[bytes] | None = None
    facade_starts: int = 0
    _sim_client: httpx.Client | None = None

    @property
    def pki(self) -> TestPki:
        return TestPki.at(self.root / "pki")

    @property
    def sim_state(self) -> Path:
        return self.root / "simulator"

    @property
    def facade_state(self) -> Path:
        return self.root / "facade"

    @property
    def sim_base(self) -> str:
        return f"https://127.0.0.1:{self.sim_port}"

    @property
    def fhir_base(self) -> str:
        return f"http://127.0.0.1:{self.facade_port}/fhir"

    # --- the simulator ---

    def start_simulator(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / "simulator.log"
        cmd = [sys.executable, "-m", "facade", "simulator", "--pki", str(self.root / "pki"),
               "--state", str(self.sim_state), "--port", str(self.sim_port)]  # fmt: skip
        with open(log, "ab") as out:
            self.simulator = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_clean_env())  # noqa: S603
        deadline = time.monotonic() + timeout
        while True:
            if self.simulator.poll() is not None:
                raise RuntimeError(f"the simulator exited ({self.simulator.returncode}):\n{_tail(log)}")
            if self.pki.password_file.exists() and self.pki.server_key.exists():
                try:
                    self.sim_client().get("/_simulator/script").raise_for_status()
                    return
                except (httpx.HTTPError, ssl.SSLError, OSError):
                    self._close_sim_client()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start in {timeout}s:\n{_tail(log)}")
            time.sleep(0.2)

    def sim_client(self) -> httpx.Client:
        """An admin client over mutual TLS (the simulator's admin endpoints share its TLS listener)."""
        if self._sim_client is None:
            ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
            ctx.load_cert_chain(str(self.pki.auth_cert), str(self.pki.auth_key))
            self._sim_client = httpx.Client(base_url=self.sim_base, verify=ctx, timeout=30.0, trust_env=False)
        return self._sim_client

    def _close_sim_client(self) -> None:
        if self._sim_client is not None:
            self._sim_client.close()
            self._sim_client = None

    def set_script(
        self, queue: Sequence[str | Mapping[str, Any]] = (), *, default: str | Mapping[str, Any] = "ok"
    ) -> dict[str, Any]:
        r = self.sim_client().post("/_simulator/script", json={"queue": list(queue), "default": default})
        r.raise_for_status()
        state: dict[str, Any] = r.json()
        return state

    def script(self) -> dict[str, Any]:
        r = self.sim_client().get("/_simulator/script")
        r.raise_for_status()
        state: dict[str, Any] = r.json()
        return state

    def stored_documents(self) -> list[dict[str, Any]]:
        """The simulator's registry (every document it stored, signatures of the lot included)."""
        r = self.sim_client().get("/_simulator/documents")
        r.raise_for_status()
        docs: list[dict[str, Any]] = r.json()
        return docs

    def stored_counts(self) -> Counter[str]:
        """uniqueId -> how many clinical documents the simulated DMP holds with it."""
        return Counter(d["unique_id"] for d in self.stored_documents() if not d["is_signature"])

    def iti41_requests_mentioning(self, needles: Sequence[str]) -> Counter[str]:
        """How many ITI-41 requests (verbatim inbox) carried each needle (e.g. a document uniqueId)."""
        counts: Counter[str] = Counter()
        encoded = [(n, f'value="{n}"'.encode()) for n in needles]
        for path in sorted((self.sim_state / "inbox").glob("*.http")):
            raw = path.read_bytes()
            if REPOSITORY_PATH.encode() not in raw.split(b"\r\n", 1)[0]:
                continue
            for needle, pattern in encoded:
                if pattern in raw:
                    counts[needle] += 1
        return counts

    def iti41_request_count(self) -> int:
        return sum(
            1
            for p in (self.sim_state / "inbox").glob("*.http")
            if REPOSITORY_PATH.encode() in p.read_bytes()[:200]
        )

    # --- the facade ---

    def facade_env(self) -> dict[str, str]:
        pki = self.pki
        env = _clean_env()
        env.update(
            {
                "FACADE_ENVIRONMENT": "development",
                "FACADE_AUTH__MODE": "none",  # the facade's own client auth is not what these tests exercise
                "FACADE_STATE_DIR": str(self.facade_state),
                "FACADE_INPUT__ACCEPT_TEST_INS": "true",
                "FACADE_DMP__REPOSITORY_URL": f"{self.sim_base}{REPOSITORY_PATH}",
                "FACADE_DMP__CA_BUNDLE": str(pki.ca_cert),
                "FACADE_DMP__AUTH__P12": str(pki.auth_p12),
                "FACADE_DMP__AUTH__P12_PASSWORD_FILE": str(pki.password_file),
                "FACADE_DMP__SIGN__P12": str(pki.sign_p12),
                "FACADE_DMP__SIGN__P12_PASSWORD_FILE": str(pki.password_file),
                **self.tuning.env(),
            }
        )
        return env

    def start_facade(self, timeout: float = 60.0, *, workers: int = 1) -> None:
        self.facade_starts += 1
        log = self.root / f"facade-{self.facade_starts}.log"
        cmd = [sys.executable, "-m", "facade", "serve", "--port", str(self.facade_port), "--workers", str(workers)]
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
                time.sleep(0.2)

    def kill_facade(self) -> None:
        """SIGKILL: no shutdown hook runs, leases stay as they were, in-flight sends are cut."""
        assert self.facade is not None
        self.facade.send_signal(signal.SIGKILL)
        self.facade.wait(timeout=30)

    def stop_facade(self) -> None:
        if self.facade is not None and self.facade.poll() is None:
            self.facade.send_signal(signal.SIGTERM)
            try:
                self.facade.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.facade.kill()
                self.facade.wait(timeout=10)

    def facade_log(self) -> str:
        return _tail(self.root / f"facade-{self.facade_starts}.log")

    def health(self) -> dict[str, Any]:
        r = httpx.get(f"http://127.0.0.1:{self.facade_port}/health", timeout=10.0, trust_env=False)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def outbox(self) -> SqliteOutbox:
        """The facade's own store, opened read-mostly by the test (SQLite WAL: safe next to the running facade)."""
        return SqliteOutbox(self.facade_state / "facade.sqlite")

    def wait_until_settled(self, timeout: float, expect: Callable[[], bool] = lambda: True) -> dict[str, int]:
        """Wait until the outbox holds nothing pending / sending / failed and ``expect()`` holds."""
        deadline = time.monotonic() + timeout
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            counts = self.health().get("outbox", {})
            if not any(counts.get(s, 0) for s in ("pending", "sending", "failed")) and expect():
                return counts
            time.sleep(0.5)
        raise AssertionError(f"not settled after {timeout}s: outbox {counts}\n{self.facade_log()}")

    def stop(self) -> None:
        self.stop_facade()
        self._close_sim_client()
        if self.simulator is not None and self.simulator.poll() is None:
            self.simulator.send_signal(signal.SIGTERM)
            try:
                self.simulator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.simulator.kill()
                self.simulator.wait(timeout=10)


@contextmanager
def running_stack(root: Path, tuning: FacadeTuning | None = None) -> Iterator[Stack]:
    stack = Stack(root, tuning or FacadeTuning())
    try:
        stack.start_simulator()
        stack.start_facade()
        yield stack
    finally:
        stack.stop()


def _clean_env() -> dict[str, str]:
    """The child's environment without the FACADE_* settings the caller may have set (the test decides them);
    the conformance kit location is kept (CI may point it elsewhere)."""
    keep = {"FACADE_VALIDATION_KIT"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACADE_") or k in keep}
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ------------------------------------------------------------------------------------------------------ posting


@dataclass
class PostResult:
    submission: Submission
    started: float  # time.time() when the POST began
    status: int | None = None  # None: no HTTP answer (connection refused / cut)
    body: dict[str, Any] | None = None
    error: str | None = None
    ended: float | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (200, 202)


def post(client: httpx.Client, base: str, sub: Submission) -> PostResult:
    result = PostResult(sub, time.time())
    try:
        r = client.post(base, content=sub.body, headers=sub.headers())
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    else:
        result.status = r.status_code
        try:
            result.body = r.json()
        except ValueError:
            result.body = None
    result.ended = time.time()
    return result


def child_pids(parent: int) -> set[int]:
    """The live (not zombie) child processes of ``parent``, read from /proc: the workers of ``facade serve``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                out.add(int(entry.name))
    return out
