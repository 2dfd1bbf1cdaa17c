"""Every import path and ``nb.<name>`` that the README, the docs and the notebooks show still works after the layout
move (the old module paths through nbtrain/_moved.py, as the same module objects, with a DeprecationWarning)."""
from __future__ import annotations

import importlib
import json
import re
import sys
import warnings
from pathlib import Path

import pytest

import nbtrain
from nbtrain._moved import MOVED, new_path

ROOT = Path(__file__).resolve().parents[1]
FROM = re.compile(r"^\s*from (nbtrain(?:\.[\w.]+)?) import \(?([\w, ]+)\)?", re.M)
IMPORT = re.compile(r"^\s*import (nbtrain(?:\.[\w.]+)?)", re.M)
ATTR = re.compile(r"\bnb\.([A-Za-z_]\w*)")


def _texts():
    for p in [ROOT / "README.md", ROOT / "README.zh-CN.md", *sorted((ROOT / "docs").glob("*.md"))]:
        yield p.name, p.read_text(encoding="utf-8")
    for p in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        cells = json.loads(p.read_text(encoding="utf-8"))["cells"]
        yield str(p.relative_to(ROOT)), "\n".join("".join(c["source"]) for c in cells)


def _documented():
    names, attrs = set(), set()
    for _, text in _texts():
        names |= {(m, n.strip()) for m, ns in FROM.findall(text) for n in ns.split(",") if n.strip()}
        names |= {(m, None) for m in IMPORT.findall(text)}
        attrs |= set(ATTR.findall(text))
    return sorted(names, key=str), sorted(attrs)


NAMES, ATTRS = _documented()


def test_the_docs_show_imports_and_names():
    assert ("nbtrain.widgets", "TransformPicker") in NAMES and len(NAMES) >= 5 and {"fit", "Workbench"} <= set(ATTRS)


@pytest.mark.parametrize("module,name", NAMES, ids=[f"{m}:{n}" for m, n in NAMES])
def test_each_documented_import_works(module, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        mod = importlib.import_module(module)
        if name is not None:
            assert getattr(mod, name) is not None or name in vars(mod)


@pytest.mark.parametrize("name", ATTRS)
def test_each_documented_nb_name_exists(name):
    assert hasattr(nbtrain, name), f"the docs use nb.{name}, which nbtrain does not have"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_module_path_is_the_new_module_with_a_warning(old):
    new = importlib.import_module(new_path(f"nbtrain.{old}"))
    sys.modules.pop(f"nbtrain.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"nbtrain.{old} moved to {new.__name__}"):
        assert importlib.import_module(f"nbtrain.{old}") is new


def test_a_submodule_of_a_moved_package_is_loaded_once():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from nbtrain.data import fast as old
    from nbtrain.build.data import fast as new
    assert old is new and old.__name__ == "nbtrain.build.data.fast"
