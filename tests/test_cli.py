"""`facade preview` exit codes (0 valid, 1 the output fails validation, 2 the input is rejected, 3 the facade fails),
folders and parallel jobs, the summary and progress; the CLI's help, version and errors-before-banner."""

from __future__ import annotations

import argparse
import json
import os
import pty
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from facade.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "conformance/bundles/ldl-ses/pdf-discharge-letter.json"
BAD = ROOT / "tests/data/bundles/ins-wrong-key.json"
GLYCEMIE = ROOT / "conformance/bundles/cr-bio/glycemie.json"


def test_valid_bundle_writes_the_artefacts_and_exits_0(tmp_path: Path, kit_path: Path) -> None:
    code = main(["preview", str(GOOD), "--out", str(tmp_path), "--kit", str(kit_path)])
    assert code == 0
    assert (tmp_path / "1.cda.xml").read_bytes().startswith(b"<ClinicalDocument")
    assert b"RegistryObjectList" in (tmp_path / "1.metadata.xml").read_bytes()
    outcome = json.loads((tmp_path / "outcome.json").read_text(encoding="utf-8"))
    assert outcome["resourceType"] == "OperationOutcome"
    assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_rejected_input_exits_2_with_the_operation_outcome_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["preview", str(BAD), "--out", str(tmp_path)])
    assert code == 2
    captured = capsys.readouterr()
    assert "error: ins-key-mismatch: " in captured.err
    assert "rejected" in captured.out and "ins-key-mismatch" in captured.out
    outcome = json.loads((tmp_path / "outcome.json").read_text(encoding="utf-8"))
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "ins-key-mismatch"
    assert outcome["issue"][0]["expression"]
    assert not (tmp_path / "1.cda.xml").exists()


def test_missing_bundle_file_exits_2_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(tmp_path / "nope.json"), "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "cannot read" in captured.err and "Traceback" not in captured.err
    assert "unreadable" in captured.out


def test_output_failing_validation_exits_1(tmp_path: Path) -> None:
    # A kit whose CDA schema knows no ClinicalDocument: every produced CDA fails it.
    kit = tmp_path / "kit"
    (kit / "schemas/cda").mkdir(parents=True)
    (kit / "schemas/cda/CDA_extended.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3">'
        '<xs:element name="SomethingElse"/></xs:schema>'
    )
    code = main(["preview", str(GOOD), "--out", str(tmp_path / "out"), "--kit", str(kit)])
    assert code == 1
    outcome = json.loads((tmp_path / "out/outcome.json").read_text(encoding="utf-8"))
    assert any(i["details"]["coding"][0]["code"] == "output-xsd" for i in outcome["issue"])


def test_serve_refuses_to_start_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from facade.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("FACADE_ENVIRONMENT", "production")  # no client authentication configured: deny by default
    try:
        assert main(["serve", "--port", "1"]) == 3
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("facade: refusing to start:") and "FACADE_AUTH__MODE" in err
    assert "Traceback" not in err


def test_a_folder_and_files_give_one_row_each_and_the_worst_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    (inputs / "nested").mkdir(parents=True)
    shutil.copy(GOOD, inputs / "good.json")
    shutil.copy(BAD, inputs / "nested" / "bad.json")
    (inputs / "notes.txt").write_text("not a bundle")  # folders give their *.json files only
    out = tmp_path / "out"
    code = main(["preview", str(inputs), str(GLYCEMIE), "--out", str(out), "--jobs", "2"])
    assert code == 2  # the worst file: one input is rejected
    captured = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines() if line.startswith(str(tmp_path))}
    rows |= {line.split()[0]: line.split() for line in captured.out.splitlines() if line.startswith(str(GLYCEMIE))}
    assert rows[str(inputs / "good.json")][1:3] == ["accepted", "1"]
    assert rows[str(GLYCEMIE)][1:3] == ["accepted", "1"]
    assert rows[str(inputs / "nested" / "bad.json")][1] == "rejected"
    assert rows[str(inputs / "nested" / "bad.json")][-1] == "ins-key-mismatch"
    assert "3 file(s): 2 accepted, 0 invalid, 1 rejected, 0 failed" in captured.out
    # one folder of artefacts per file, below the argument's name when there are several arguments
    assert (out / "in" / "good" / "1.cda.xml").read_bytes().startswith(b"<ClinicalDocument")
    assert (out / "glycemie" / "1.cda.xml").read_bytes().startswith(b"<ClinicalDocument")
    bad_outcome = json.loads((out / "in" / "nested" / "bad" / "outcome.json").read_text(encoding="utf-8"))
    assert bad_outcome["issue"][0]["details"]["coding"][0]["code"] == "ins-key-mismatch"
    # not a terminal: one plain progress line per file, no bar
    progress = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert [line.split("] ", 1)[0] for line in progress] == ["[1/3", "[2/3", "[3/3"]  # in completion order
    assert {line.split("] ", 1)[1] for line in progress} == {
        f"accepted: {inputs / 'good.json'}",
        f"rejected: {inputs / 'nested' / 'bad.json'}",
        f"accepted: {GLYCEMIE}",
    }
    assert "\r" not in captured.err


def test_a_facade_failure_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACADE_TEMPLATES_DIR", str(tmp_path / "no-templates"))  # the installation is broken
    (tmp_path / "no-templates").mkdir()
    assert main(["preview", str(GOOD), str(BAD), "--out", str(tmp_path / "out")]) == 3
    out = capsys.readouterr().out
    assert "failed" in out and "template-render" in out


def test_a_folder_without_json_files_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no .json file" in capsys.readouterr().err


def test_a_terminal_gets_a_progress_bar(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "facade", "preview", str(GOOD), str(GLYCEMIE), "--out", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=secondary, timeout=120, cwd=ROOT,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert done.returncode == 0
    assert b"\r\x1b[K[" + b"#" * 15 + b"." * 15 + b"] 1/2 accepted" in seen
    assert b"] 2/2 accepted" in seen
    assert b"[1/2] accepted:" not in seen  # no plain lines on a terminal


def test_version() -> None:
    from facade import __version__

    done = subprocess.run([sys.executable, "-m", "facade", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0
    assert done.stdout.strip() == f"facade {__version__}"


def _commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield name, child
                yield from _commands(child)


def test_every_option_has_help_and_shows_its_default() -> None:
    parser = build_parser()
    commands = dict(_commands(parser))
    assert {"preview", "serve", "demo", "simulator", "init"} <= set(commands)
    for name, command in commands.items():
        text = command.format_help()
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"{name} {action.dest}: no help"
            if action.option_strings and action.default not in (None, argparse.SUPPRESS):
                assert f"(default: {action.default})" in " ".join(text.split()), f"{name} {action.dest}"


def test_demo_on_a_busy_port_fails_before_the_banner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACADE_STATE_DIR", str(tmp_path / "state"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code = main(["demo", "--port", str(busy.getsockname()[1])])
    assert code == 3
    captured = capsys.readouterr()
    assert captured.err.startswith("facade demo: cannot listen on 127.0.0.1:")
    assert "Post the example bundle" not in captured.out
    assert not (tmp_path / "state").exists()  # nothing generated, no simulator started


def test_an_unreadable_kit_is_one_line_and_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit = tmp_path / "empty-kit"
    kit.mkdir()
    assert main(["preview", str(GOOD), str(BAD), "--out", str(tmp_path / "out"), "--kit", str(kit), "--jobs", "2"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("facade preview: configuration: ") and "CDA_extended.xsd" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing converted


def test_serve_lists_every_problem_one_per_line_and_refuses_a_misspelt_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14 item 9: every problem, one line each, exit 3; an unknown FACADE_* variable is refused in production."""
    from facade.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setenv("FACADE_ENVIRONMENT", "production")
    monkeypatch.setenv("FACADE_AUTH__MODEE", "none")  # the typo the attacker found silently ignored
    monkeypatch.setenv("FACADE_BASE_URL", "not-a-url")
    try:
        assert main(["serve", "--port", "1"]) == 3
    finally:
        get_settings.cache_clear()
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("facade: refusing to start: ") for line in lines)
    assert any("FACADE_AUTH__MODE" in line and "MODEE" not in line for line in lines)  # auth mode missing
    assert any("base_url must be an absolute" in line for line in lines)
    assert any(line.endswith("FACADE_AUTH__MODEE names no setting (misspelt?)") for line in lines)
    assert "Traceback" not in "\n".join(lines)


def test_an_unknown_variable_is_only_a_warning_in_development(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from facade.settings import get_settings, unknown_variables

    assert unknown_variables({"FACADE_AUTH__MODEE": "none", "FACADE_AUTH__MODE": "mtls", "HOME": "/"}) == [
        "FACADE_AUTH__MODEE"
    ]
    assert unknown_variables({"facade_dmp__auth__p12": "x", "FACADE_DMP": "{}"}) == []
    get_settings.cache_clear()
    monkeypatch.setenv("FACADE_ENVIRONMENT", "development")
    monkeypatch.setenv("FACADE_AUTH__MODEE", "none")
    monkeypatch.setenv("FACADE_BASE_URL", "not-a-url")  # something else stops it, so no server starts here
    try:
        assert main(["serve", "--port", "1"]) == 3
    finally:
        get_settings.cache_clear()
    lines = capsys.readouterr().err.splitlines()
    assert "FACADE_AUTH__MODEE names no setting (misspelt?): ignored" in caplog.text
    assert not any("MODEE" in line for line in lines if line.startswith("facade: refusing to start"))


def test_the_readmes_demo_commands_are_the_banners() -> None:
    """README's "Run it" block shows the banner's commands (port 8080): each curl line of it, but the POST (its
    path is the source tree's), is a line the demo prints, so the two cannot drift apart."""
    from facade.cli import _demo_banner

    banner = {line.strip() for line in _demo_banner("127.0.0.1", 8080, Path("/state"), "https://sim").splitlines()}
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Run it", 1)[1].split("```sh\n")[2].split("```", 1)[0]
    lines = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    shown = [ln for ln in lines if "--data-binary" not in ln and "-X POST" not in ln]
    assert len(shown) == 13  # TD0.2 x3, search, Binary, and the four PATCH commands (two lines each)
    assert [ln for ln in shown if ln not in banner] == []
