"""Issue 14 item 10 (log injection) and issue 13's log items: every control character is escaped in both formats
(a ``%0a`` in a URL forged a text line, NUL was written raw), one record is one line; JSON lines only when JSON is
chosen, uvicorn's records in the same format without ``color_message`` nor ANSI, and no plain first line from
``facade serve``."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import pytest
from fastapi.testclient import TestClient

from facade.app import create_app
from facade.logs import configure_logging
from facade.logs.redaction import INS_MASK
from facade.settings import Settings

FORGED = "2026-01-01 00:00:00,000 INFO facade.access [-] GET /admin 200"
# what an attacker puts in a URL: a line break and a forged line, NUL, a terminal escape, Unicode line separators
HOSTILE_PATH = "/fhir/x%0d%0a" + FORGED.replace(" ", "%20") + "%00%1b%5b31m%c2%85%e2%80%a8end"
HANG_SECONDS = 60  # watchdog only: the old pattern needed minutes for the 200 kB word below
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \[\S+\] ")


def _hit(tmp_path: Path, fmt: Literal["json", "text"]) -> str:
    buffer = io.StringIO()
    with TestClient(create_app(Settings(environment="development", state_dir=tmp_path / "state"))) as client:
        configure_logging(level="INFO", fmt=fmt, stream=buffer)
        client.get(HOSTILE_PATH)
        logging.getLogger("facade.test").error("boom\r\nFORGED", exc_info=ValueError("multi\nline"))
    return buffer.getvalue()


def test_text_lines_cannot_be_forged(tmp_path: Path, restore_logging: None) -> None:
    out = _hit(tmp_path, "text")
    lines = out.splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines  # every line is a record of ours
    assert not any(line.startswith(FORGED[:10]) for line in lines)
    assert not RAW_CONTROLS.search(out)
    access = next(line for line in lines if line.split()[3] == "facade.access")
    assert "/fhir/x\\r\\n2026-01-01" in access and "\\x00\\x1b[31m\\x85\\u2028end" in access
    error = next(line for line in lines if line.split()[3] == "facade.test")
    assert "boom\\r\\nFORGED" in error and "ValueError: multi\\nline" in error  # the traceback, on the same line


def test_json_lines_escape_every_control_character(tmp_path: Path, restore_logging: None) -> None:
    out = _hit(tmp_path, "json")
    assert not RAW_CONTROLS.search(out)
    records = [json.loads(line) for line in out.splitlines()]
    access = next(r for r in records if r["logger"] == "facade.access")
    assert access["path"].startswith("/fhir/x\r\n2026-01-01") and access["path"].endswith("\x00\x1b[31m\x85\u2028end")


def test_uvicorn_records_carry_no_colour_copy(restore_logging: None) -> None:
    buffer = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=buffer)
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"}
    )
    (record,) = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert record == {**record, "msg": "Started server process [42]", "logger": "uvicorn.error"}
    assert "color_message" not in record and "\x1b" not in buffer.getvalue()


def test_redaction_still_applies_in_both_formats(restore_logging: None) -> None:
    for fmt in ("json", "text"):
        buffer = io.StringIO()
        configure_logging(level="INFO", fmt=fmt, stream=buffer)  # type: ignore[arg-type]
        logging.getLogger("facade.test").warning("ins %s password=hunter2", "184127645108946")
        assert INS_MASK in buffer.getvalue() and "184127645108946" not in buffer.getvalue()
        assert "hunter2" not in buffer.getvalue()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_facade_serve_writes_only_its_chosen_format_from_the_first_line(tmp_path: Path, fmt: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "FACADE_ENVIRONMENT": "development",
        "FACADE_STATE_DIR": str(tmp_path / "state"),
        "FACADE_LOGGING__FORMAT": fmt,
    }
    cmd = [sys.executable, "-m", "facade", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:  # noqa: S603
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert any("Uvicorn running" in line for line in lines), lines
    assert any("authentication is OFF" in line for line in lines)  # logged before the server starts
    for line in lines:
        if fmt == "json":
            record = json.loads(line)  # a plain line would fail here
            assert "color_message" not in record
        else:
            assert TEXT_LINE.match(line), line
        assert "\x1b" not in line


def test_redaction_stays_linear_on_a_long_word(restore_logging: None) -> None:
    """The secret-pair pattern began with ``[\\w.-]*``: quadratic on a long word, so one request with a 15 kB path
    cost 10 s of event-loop CPU in its access line. A watchdog (a hang, not a speed figure) on a 200 kB word."""
    buffer = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=buffer)
    worker = threading.Thread(
        target=logging.getLogger("facade.access").info, args=("GET %s", "/fhir/" + "a" * 200_000), daemon=True
    )
    worker.start()
    worker.join(timeout=HANG_SECONDS)
    assert not worker.is_alive(), "redacting one log line hung"
    assert json.loads(buffer.getvalue())["msg"].endswith("a" * 1000)
