"""The Colab profile for tests: .venv-colab (tools/colab_venv.sh builds it), its Colab pins, and a clean environment
for running its programs as a user of the installed wheel runs them (no checkout on the path).

Tests that need the profile skip without it, saying how to build it, except under NBTRAIN_REQUIRE_COLAB=1 (.ci/run
sets it after building the profile): then a missing profile fails them.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-colab"
PINS = ROOT / "tests" / "colab" / "pins.txt"


def canonical(name: str) -> str:
    """A distribution name as pip compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """``{name: version}`` of tests/colab/pins.txt."""
    found = {}
    for line in PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            found[canonical(name)] = version.strip()
    return found


def colab_python() -> Path:
    """.venv-colab's interpreter; skips (fails under NBTRAIN_REQUIRE_COLAB=1) when the profile is not built."""
    py = VENV / "bin" / "python"
    if not py.exists():
        reason = f"{VENV} is missing: `bash tools/colab_venv.sh` builds the Colab profile"
        if os.environ.get("NBTRAIN_REQUIRE_COLAB") == "1":
            pytest.fail(f"{reason} (NBTRAIN_REQUIRE_COLAB=1: .ci/run built it, so this must run)")
        pytest.skip(reason)
    return py


def user_env() -> dict:
    """The environment of someone who installed nbtrain into .venv-colab and activated it: its bin first on PATH, no
    PYTHONPATH (so nothing from this checkout is imported), no test-only matplotlib backend."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MPLBACKEND", "PYTHONHOME")}
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = os.pathsep.join([str(VENV / "bin"), env.get("PATH", "")])
    return env
