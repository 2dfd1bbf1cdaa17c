"""binder/: the files mybinder.org builds from parse, and their pins agree with pyproject.toml and constraints.txt."""
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _lines(path: Path) -> list[str]:
    return [l.split(" #")[0].strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]


def _binder() -> tuple[list[str], dict[str, Requirement]]:
    """(pip options and local paths, requirements by name) of binder/requirements.txt."""
    options, reqs = [], {}
    for line in _lines(ROOT / "binder" / "requirements.txt"):
        if line.startswith("-") or line in (".", "./"):
            options.append(line)
        else:
            r = Requirement(line)
            reqs[r.name.lower()] = r
    return options, reqs


def _constraints() -> dict[str, Version]:
    pins = {}
    for line in _lines(ROOT / "constraints.txt"):
        r = Requirement(line)
        (spec,) = r.specifier
        assert spec.operator == "==", f"constraints.txt pins with ==, got {line}"
        pins[r.name.lower()] = Version(spec.version)
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pinned(req: Requirement) -> Version:
    (spec,) = req.specifier
    assert spec.operator == "==", f"binder pins {req.name} with ==, got {req}"
    return Version(spec.version)


def test_binder_uses_the_cpu_wheel_index_and_installs_the_project():
    options, _ = _binder()
    assert f"--extra-index-url {CPU_INDEX}" in options
    assert "-e ." in options or "." in options


@pytest.mark.parametrize("name", ["torch", "torchvision"])
def test_binder_pins_the_cpu_build_of_the_constraints_pair(name):
    _, reqs = _binder()
    version = _pinned(reqs[name])
    assert version.local == "cpu", f"{reqs[name]}: pin the +cpu build so Binder skips the CUDA wheels"
    assert Version(version.public) == _constraints()[name]


def test_binder_pins_satisfy_pyproject():
    _, reqs = _binder()
    deps = {Requirement(d).name.lower(): Requirement(d) for d in _pyproject()["project"]["dependencies"]}
    for name in ("torch", "torchvision"):
        assert deps[name].specifier.contains(_pinned(reqs[name]).public), f"{name}: {deps[name]} vs binder pin"
    for name, req in reqs.items():
        if name in deps and name not in ("torch", "torchvision"):
            assert str(req.specifier) == str(deps[name].specifier), f"{name}: binder and pyproject disagree"


def test_binder_installs_what_the_notebooks_import_beyond_the_project():
    _, reqs = _binder()
    dev = {Requirement(d).name.lower(): Requirement(d) for d in _pyproject()["project"]["optional-dependencies"]["dev"]}
    assert "tensorboard" in reqs, "notebooks/06_tensorboard uses %tensorboard"
    assert str(reqs["tensorboard"].specifier) == str(dev["tensorboard"].specifier)


def test_binder_runtime_is_a_python_the_project_supports():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-")
    from packaging.specifiers import SpecifierSet
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(runtime.removeprefix("python-") + ".0")
