"""The facade as a user installs it: sdist -> wheel -> a fresh venv, outside the source tree.

Offline and fast: the wheel is built without build isolation (setuptools comes from the test extras) and installed
with ``--no-deps``; the fresh venv reaches the test venv's dependencies through a ``.pth`` line. Site-packages
added that way do not run their own ``.pth`` files, so the editable install of the source tree stays invisible:
``import facade`` in the fresh venv can only find the installed wheel (checked by ``installed_facade``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    venv: Path
    wheel: Path

    @property
    def facade(self) -> Path:
        return self.venv / "bin" / "facade"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def _run(*cmd: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def installed_facade(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    # A clean copy of the checkout (tracked and new files, symlinks kept): a stale build/ or *.egg-info in the
    # working tree would otherwise leak into the sdist and hide a missing package-data pattern.
    source = tmp_path_factory.mktemp("source")
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_symlink() or (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name, follow_symlinks=False)
    dist = tmp_path_factory.mktemp("dist")
    build = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    sdist = dist / _run(sys.executable, "-c", build, dist, cwd=source).strip().splitlines()[-1]
    # The wheel is built from the sdist, as pip does from PyPI: both must carry the templates and examples.
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, sdist, cwd=dist)
    (wheel,) = dist.glob("dmp_facade-*.whl")

    env_dir = tmp_path_factory.mktemp("wheel-venv")
    venv.create(env_dir, with_pip=False)
    fresh_site = Path(
        _run(
            env_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=dist
        ).strip()
    )
    (fresh_site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python", "install", "-q", "--no-deps",
         "--no-index", wheel, cwd=dist)  # fmt: skip
    installed = Installed(env_dir, wheel)
    where = _run(installed.python, "-c", "import facade; print(facade.__file__)", cwd=dist).strip()
    assert Path(where).is_relative_to(fresh_site), f"facade imported from {where}, not from the installed wheel"
    return installed


# The end-to-end fixtures (test PKI, a DMP simulator over real mutual TLS, the real facade app) for readiness.
from tests.e2e.conftest import e2e_pki, facade, simulator, start_facade  # noqa: E402, F401
