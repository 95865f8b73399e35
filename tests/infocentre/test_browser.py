"""Issue 13, done when: headless Chromium opens /infocentre of a running `facade demo` (facade + DMP simulator over
real mutual TLS, background relay on) after a mixed load (delivered, masked, refused, DMP errors scripted on the
simulator, a replacement), and the page shows the expected numbers per site and type, and each chart is drawn
(bars with a size on the screen). The full-page screenshot goes to test-artifacts/ (git-ignored).

Skipped with a message where Chromium is absent (.ci/run installs Debian's `chromium`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from facade.pki import TestPki
from tests.infocentre.browser import CHROMIUM, Browser
from tests.infocentre.test_known_load import CONS, CRO, EXPECTED, LDL, SITE, post_known_load, script

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)"
)

# The DMP's and the facade's numbers, read from the page's cells and from each chart's drawn bars.
READ_PAGE = """(() => ({
  summary: [...document.querySelectorAll('#summary tbody tr[data-site]')].map(tr => ({
    site: tr.dataset.site, type: tr.dataset.type,
    values: Object.fromEntries([...tr.querySelectorAll('td[data-indicator]')]
      .map(td => [td.dataset.indicator, Number(td.textContent)])),
  })),
  charts: [...document.querySelectorAll('figure[data-chart]')].map(f => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const bars = svg ? [...svg.querySelectorAll('rect.rect')].filter(r => {
      const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length : 0;
    return {key: f.dataset.chart, width: box.width, height: box.height, bars,
            table: !!f.parentElement.querySelector('table[data-table="' + f.dataset.chart + '"]')};
  }),
  share: document.querySelector('#discharge-share tr[data-period="all"] td[data-indicator="discharge_share"]')
    ?.textContent,
}))()"""


class Demo:
    def __init__(self, process: subprocess.Popen[bytes], base: str, simulator: str, state: Path) -> None:
        self.process, self.base, self.simulator, self.state = process, base, simulator, state


@pytest.fixture()
def demo(tmp_path: Path) -> Iterator[Demo]:
    state, log = tmp_path / "state", tmp_path / "demo.log"
    env = {**os.environ, "FACADE_STATE_DIR": str(state)}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "facade", "demo", "--port", "0"], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120  # a wait for start-up, not an assertion on speed
        while not (found := re.search(r"facade: (http://127\.0\.0\.1:\d+)/fhir", log.read_text(errors="replace"))):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        sim = re.search(r"DMP simulator .*: (https://127\.0\.0\.1:\d+)/", log.read_text())
        assert sim, log.read_text()
        yield Demo(process, found.group(1), sim.group(1), state)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def test_the_page_shows_the_load_per_site_and_type_and_draws_every_chart(demo: Demo, tmp_path: Path) -> None:
    pki = TestPki.at(demo.state / "pki")
    with httpx.Client(base_url=demo.base, timeout=120) as client:
        statuses = post_known_load(
            lambda b: client.post("/fhir", content=b, headers={"Content-Type": "application/fhir+json"}).status_code,
            partial(script, pki, demo.simulator),
            retrying=False,  # the demo's relay retries in the background: every figure must be final
        )
    assert sorted(statuses.values()) == [200] * 6 + [422] * 4, statuses

    with Browser(tmp_path / "profile") as browser:
        browser.open(f"{demo.base}/infocentre?period=week")
        page = browser.evaluate(READ_PAGE)
        shot = browser.screenshot(ARTIFACTS / "infocentre.png")

    rows = {(r["site"], r["type"]): r["values"] for r in page["summary"]}
    expected = {key: dict(values) for key, values in EXPECTED.items()}
    expected[(SITE, CONS)].update(accepted=3, in_progress=0)  # no retrying submission in this load
    assert set(rows) == set(expected)
    for key, values in expected.items():
        assert {k: rows[key][k] for k in values} == values, key
    assert page["share"] == f"{100 * 5 / 6:.1f} %"  # 5 discharge documents of the 6 delivered
    charts = {c["key"]: c for c in page["charts"]}
    assert set(charts) == {"volumes", "document-delay", "delivery-delay", "causes"}
    for chart in charts.values():
        assert chart["width"] > 100 and chart["height"] > 100 and chart["table"], chart
    assert charts["volumes"]["bars"] >= 3  # delivered: letters, operative report, consultation (one week)
    assert charts["document-delay"]["bars"] == charts["delivery-delay"]["bars"] == 6  # p50 + p90 for 3 types
    assert charts["causes"]["bars"] == 3  # ins-key-mismatch, XDSRegistryMetadataError, XDSUnknownPatientId
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {LDL, CRO} <= {t for _, t in rows}
