"""ruff (the rules in pyproject.toml's [tool.ruff.lint]) finds nothing in the package, the tests, the benchmarks and tools."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str] | None:
    """The ruff command: beside this interpreter (a venv's bin/), else on PATH."""
    here = Path(sys.executable).parent / "ruff"
    if here.is_file():
        return [str(here)]
    found = shutil.which("ruff")
    return [found] if found else None


def test_ruff_check_finds_nothing():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]' installs it)")
    out = subprocess.run([*ruff, "check", "--no-cache", "nbtrain", "tests", "benchmarks", "tools"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
