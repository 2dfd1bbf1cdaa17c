"""CI's browser tests never skip silently (issue 13, Deliver 5): with NBTRAIN_REQUIRE_BROWSER=1 (set by .ci/run) a
browser test module that cannot import playwright fails the run; NBTRAIN_SKIP_BROWSER=1 is the explicit opt-out."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pytest(tmp_path, **env) -> subprocess.CompletedProcess:
    """tests/browser/test_quickstart.py collected where playwright.sync_api cannot be imported (an empty
    playwright package shadows the real one)."""
    (tmp_path / "playwright").mkdir(exist_ok=True)
    (tmp_path / "playwright" / "__init__.py").write_text("")
    full = {k: v for k, v in os.environ.items() if not k.startswith("NBTRAIN_")}
    full.update(env, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "pytest", "tests/browser/test_quickstart.py", "-q", "-p",
                           "no:cacheprovider"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("env, rc, says", [
    ({}, 5, "SKIPPED [1] tests/browser/test_quickstart.py:"),
    ({"NBTRAIN_REQUIRE_BROWSER": "1"}, 2, "tests/browser/test_quickstart.py: Skipped: pip install -e '.[dev]' "
     "(NBTRAIN_REQUIRE_BROWSER=1: CI installed the browser, so this must run)"),
    ({"NBTRAIN_REQUIRE_BROWSER": "1", "NBTRAIN_SKIP_BROWSER": "1"}, 5, "SKIPPED [1]"),
])
def test_a_browser_module_that_cannot_import_playwright(tmp_path, env, rc, says):
    r = _pytest(tmp_path, **env)
    assert r.returncode == rc, r.stdout + r.stderr
    assert says in r.stdout
    if rc == 5 and not env:
        assert "pip install -e '.[dev]'" in r.stdout.split(says, 1)[1].splitlines()[0]


def test_ci_run_documents_the_opt_out_and_fails_without_a_browser():
    text = (ROOT / ".ci" / "run").read_text()
    assert "NBTRAIN_SKIP_BROWSER=1 bash .ci/run" in text
    assert "chromium could not be installed, so the browser tests cannot run: failing" in text
    assert 'bash dev.sh test -m "not browser"' in text
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0
