"""`facade demo` from the installed wheel, as in the image: its state goes to FACADE_STATE_DIR, never to the
working directory (the image's WORKDIR is the only place its user may write; root ignores file modes here, so the
test checks that the working directory stays empty instead)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.ops.conftest import Installed


def _wait_for_banner(log: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 120  # a wait, not an assertion on speed
    while time.monotonic() < deadline:
        match = re.search(r"facade: (http://127\.0\.0\.1:\d+)/fhir", log.read_text(errors="replace"))
        if match:
            return match.group(1)
        assert process.poll() is None, f"facade demo exited {process.returncode}:\n{log.read_text()}"
        time.sleep(0.2)
    raise AssertionError(f"no banner:\n{log.read_text()}")


def _wait_until_served(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_installed_demo_keeps_its_state_in_facade_state_dir(installed_facade: Installed, tmp_path: Path) -> None:
    workdir, state = tmp_path / "workdir", tmp_path / "state"
    workdir.mkdir()
    log = tmp_path / "demo.log"
    env = {**os.environ, "FACADE_STATE_DIR": str(state)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [installed_facade.facade, "demo", "--port", "0"], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = _wait_for_banner(log, process)
        assert _wait_until_served(f"{base}/health/live").status_code == 200
        assert httpx.get(f"{base}/health/ready").json()["status"] == "ready"
        example = installed_facade.venv.glob("lib/python*/site-packages/facade/examples/ldl-ses/*.json")
        posted = httpx.post(
            f"{base}/fhir",
            content=next(example).read_bytes(),
            headers={"Content-Type": "application/fhir+json"},
            timeout=60,
        )
        assert posted.status_code in (200, 201), posted.text
        assert list((state / "inbox").iterdir()), "the simulator received nothing"
        # TD0.2 on the three patients the banner names: the example's (open), a closed DMP, no DMP
        asks = re.findall(r"curl -s '(http://[^']+/Patient\?identifier=[^']+)'", log.read_text(errors="replace"))
        answers = [httpx.get(url, timeout=60).json() for url in asks]
        assert [a["total"] for a in answers] == [1, 1, 0], answers
        assert [a["entry"][0]["resource"]["active"] for a in answers[:2]] == [True, False]
        probe = subprocess.run([installed_facade.facade, "probe", "--url", f"{base}/health/ready"], capture_output=True)
        assert probe.returncode == 0 and probe.stdout.startswith(b"200 ")  # the image's HEALTHCHECK command
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0, log.read_text()  # Ctrl-C: a graceful stop
    assert "Traceback" not in log.read_text()
    assert (state / "pki").is_dir() and (state / "facade.sqlite").is_file()
    assert list(workdir.iterdir()) == []
    stopped = subprocess.run([installed_facade.facade, "probe", "--url", f"{base}/health/live"], capture_output=True)
    assert stopped.returncode == 1 and b"facade probe:" in stopped.stderr
