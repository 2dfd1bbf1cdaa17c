"""nbtrain installs as users install it (issue 22): an sdist built from this checkout, a wheel built from that sdist,
the wheel installed, not editable, into a clean venv: .venv-colab (tools/colab_venv.sh: Colab's Python and pins).

Everything here runs the installed copy from outside the checkout, with no PYTHONPATH: ``nbtrain demo`` trains and
writes a checkpoint that torch reads back; the Workbench builds in English and Chinese (i18n.json); the live
dashboard's widget class carries its JS and CSS (package data); the sdist, the wheel and the installed package hold
every file of nbtrain/ that git tracks, byte for byte.
"""
import json
import subprocess
import tarfile
import zipfile

import torch
from colab.profile import ROOT, VENV, colab_python, user_env

DIST = VENV / "dist"     # where tools/colab_venv.sh builds them


def _run(args, tmp_path, timeout=600) -> str:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=user_env(), cwd=tmp_path,
                         timeout=timeout)
    assert out.returncode == 0, f"{args} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _tracked_package_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "nbtrain"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = out.stdout.split()
    assert "nbtrain/i18n.json" in files and "nbtrain/__init__.py" in files, files
    return files


def _one(pattern: str):
    found = sorted(DIST.glob(pattern))
    assert len(found) == 1, f"{DIST}: expected one {pattern}, found {[p.name for p in found]}"
    return found[0]


def test_the_installed_nbtrain_is_the_wheel_not_the_checkout(tmp_path):
    probe = ("import json, nbtrain, importlib.metadata as m; d = m.distribution('nbtrain'); "
             "print(json.dumps({'file': nbtrain.__file__, 'direct_url': json.loads(d.read_text('direct_url.json'))}))")
    found = json.loads(_run([colab_python(), "-I", "-c", probe], tmp_path))
    assert found["file"].startswith(str(VENV / "lib")) and "site-packages" in found["file"], found
    url = found["direct_url"]
    assert url["url"].endswith(".whl") and "archive_info" in url and "dir_info" not in url, url   # not editable


def test_sdist_wheel_and_install_hold_every_tracked_package_file():
    colab_python()
    files = _tracked_package_files()
    with tarfile.open(_one("nbtrain-*.tar.gz")) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(top + "/") for n in sdist.getnames()}
    with zipfile.ZipFile(_one("nbtrain-*-py3-none-any.whl")) as wheel:
        in_wheel = set(wheel.namelist())
    assert sorted(set(files) - in_sdist) == [] and sorted(set(files) - in_wheel) == []
    assert {"pyproject.toml", "README.md", "LICENSE"} <= in_sdist
    site = next(VENV.glob("lib/python3.*/site-packages"))
    stale = [f for f in files if not (site / f).is_file() or (site / f).read_bytes() != (ROOT / f).read_bytes()]
    assert stale == [], f"installed copy differs from the checkout (rerun bash tools/colab_venv.sh): {stale}"


def test_nbtrain_demo_runs_from_the_installed_script(tmp_path):
    colab_python()
    out = _run([VENV / "bin" / "nbtrain", "demo", "--epochs", "1", "--out", "demo"], tmp_path)
    assert "trained 1 epoch(s): loss" in out and "val_accuracy" in out, out
    ckpt = torch.load(tmp_path / "demo" / "checkpoints" / "demo" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["model"], sorted(ckpt)
    assert list((tmp_path / "demo" / "runs" / "demo").glob("events.out.tfevents.*"))


WORKBENCH = """
import json, nbtrain as nb
from nbtrain.sinks.dashboard.view import widget_class
titles = {}
for lang in ("en", "zh"):
    w = nb.Workbench(lang=lang)
    titles[lang] = [w.tabs.get_title(i) for i in range(len(w.tabs.children))]
live = widget_class()
print(json.dumps({"titles": titles, "esm": len(live._esm), "exports": "export default" in live._esm,
                  "css": ".nbtrain-live" in live._css}))
"""


def test_the_workbench_and_the_dashboard_build_from_the_installed_package(tmp_path):
    found = json.loads(_run([colab_python(), "-I", "-c", WORKBENCH], tmp_path).splitlines()[-1])
    assert found["titles"] == {"en": ["Data", "Model", "Optimizer", "Schedule", "Train"],
                               "zh": ["数据", "模型", "优化器", "学习率调度", "训练"]}
    assert found["esm"] > 1000 and found["exports"] and found["css"], found
