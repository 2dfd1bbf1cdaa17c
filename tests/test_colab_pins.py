"""Installing nbtrain on Colab leaves Colab's widget stack as it is (issue 22).

Colab's built-in widget manager speaks ipywidgets 7 and breaks when a package upgrades ipywidgets (googlecolab/
colabtools #3020, #4525). pip's own resolver decides here, as ``pip install <nbtrain>`` decides on Colab: a dry run
with a JSON report (``pip install --dry-run --report -``) in .venv-colab, which holds the Python Colab runs, Colab's
pins (tests/colab/pins.txt) and torch (tools/colab_venv.sh). Without ``--ignore-installed``: pip keeps what is installed
when it satisfies nbtrain, as on Colab, and the report's ``install`` list is exactly what the install would change.
"""
import json
import subprocess

from colab.profile import ROOT, canonical, colab_python, pins, user_env

# the front-end-coupled packages of the "Done when"
FRONT_END = ["ipywidgets", "widgetsnbextension", "jupyterlab-widgets", "ipykernel", "ipython", "notebook", "anywidget"]


def _installed(py) -> dict[str, str]:
    out = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                         env=user_env(), timeout=120, check=True)
    return {canonical(d["name"]): d["version"] for d in json.loads(out.stdout)}


def _dry_run(py, tmp_path, *requirements) -> dict[str, str]:
    """``{name: version}`` that ``pip install <requirements>`` would install or upgrade to."""
    out = subprocess.run([str(py), "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", *requirements],
                         capture_output=True, text=True, env=user_env(), cwd=tmp_path, timeout=600)
    assert out.returncode == 0, f"pip could not resolve {requirements}:\n{out.stderr[-3000:]}"
    report = json.loads(out.stdout)
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}


def test_the_profile_holds_colabs_pins():
    installed = _installed(colab_python())
    assert {n: installed.get(n) for n in pins()} == pins()
    assert "torch" in installed and "torchvision" in installed       # as on Colab: pip keeps them


def test_installing_nbtrain_changes_none_of_colabs_front_end_packages(tmp_path):
    py = colab_python()
    installed = _installed(py)
    changes = _dry_run(py, tmp_path, str(ROOT))
    assert "nbtrain" in changes, changes                               # the report is about installing nbtrain
    moved = {n: f"{installed.get(n, 'not installed')} -> {changes[n]}" for n in FRONT_END if n in changes}
    assert moved == {}, f"installing nbtrain on Colab would change its front-end packages: {moved}"
    assert not {"torch", "torchvision"} & changes.keys(), changes


def test_the_dry_run_reports_an_upgrade_when_one_is_asked_for(tmp_path):
    """The check above can fail: a requirement that Colab's ipywidgets 7.7.1 does not meet shows in the report."""
    changes = _dry_run(colab_python(), tmp_path, "ipywidgets>=8")
    assert changes.get("ipywidgets", "").startswith("8."), changes
