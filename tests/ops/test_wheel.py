"""`pip install dmp_facade-*.whl` in a fresh venv runs `facade preview`: templates and examples ship in the wheel."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.ops.conftest import Installed


def _site_facade(installed: Installed, cwd: Path) -> Path:
    out = subprocess.run(
        [installed.python, "-c", "import facade, pathlib; print(pathlib.Path(facade.__file__).parent)"],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(out.stdout.strip())


def test_the_installed_wheel_previews_a_shipped_example(installed_facade: Installed, tmp_path: Path) -> None:
    package = _site_facade(installed_facade, tmp_path)
    assert not package.is_symlink() and not (package / "templates").is_symlink()  # real files, not the source tree
    for example in ("ldl-ses/pdf-discharge-letter.json", "cr-bio/glycemie.json"):
        out = tmp_path / example.split("/")[0]
        done = subprocess.run(
            [installed_facade.facade, "preview", package / "examples" / example, "--out", out],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        cda = (out / "1.cda.xml").read_bytes()
        assert cda.startswith(b"<ClinicalDocument") and b"urn:hl7-org:v3" in cda
        assert b"RegistryObjectList" in (out / "1.metadata.xml").read_bytes()


def test_the_wheel_version_is_the_package_version(installed_facade: Installed) -> None:
    from facade import __version__

    assert installed_facade.wheel.name.startswith(f"dmp_facade-{__version__}-")
