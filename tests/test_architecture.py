"""The package's shape, read from its source with ast: no import cycle among nbtrain's modules (function-level
imports counted), small modules and functions, and no function-level import of nbtrain's own modules.

Exceptions are listed here, each with its reason; the lead removes the temporary ones when their issue lands."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "nbtrain"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# module (relative to nbtrain/) -> why it may be longer than MAX_MODULE_LINES
LONG_MODULES: dict = {}
# "module:function" -> why it may be longer than MAX_FUNCTION_LINES
LONG_FUNCTIONS: dict = {}
# heavy optional modules a function may import (never nbtrain's own): the reason is on each import line
LAZY_OK = ("ipywidgets", "matplotlib", "tensorboardX", "tensorboard", "anywidget", "IPython", "traitlets", "tqdm",
           "zmq", "ray")
# modules whose functions carry their own imports on purpose
LAZY_BY_DESIGN = {
    "cli.py": "the command line installs its Ctrl-C handler before importing torch and the loop (seconds), so a "
              "Ctrl-C while it starts leaves quietly with exit code 130 instead of a traceback",
    "build/data/plain.py": "its functions are emitted verbatim into exported scripts (codegen): each carries its imports, "
                     "and sklearn / torchvision.datasets load only for the sets that need them",
}
LAZY_IMPORTS_PENDING: dict = {}
# The stages data passes through, in order: a module imports only its own stage and the ones before it. "base" is
# the package's own top level (errors, env, i18n, viz, the lazy API, the moved-path shim).
STAGES = ("base", "spec", "build", "train", "codegen", "sinks", "review", "widgets", "cli")
# (module, stage it may import although that stage comes later) -> why
STAGE_EXCEPTIONS = {
    ("nbtrain.spec.catalog.datasets", "build"): "a dataset's catalog entry is its loader (build/data/sources.py)",
    ("nbtrain.train.loop", "sinks"): "fit() is where the stages meet: it assembles the default sinks",
    ("nbtrain.train.background", "sinks"): "a background Run shows its own dashboard and Stop / Pause controls",
    ("nbtrain.train.launch", "sinks"): "fit(processes=N) in the background: the Run's Stop / Pause (sinks.control) "
                                       "reach the workers",
    ("nbtrain.train.rayrun", "sinks"): "fit(processes=N, engine='ray') plays rank 0's run to the display sinks, as "
                                       "launch does",
}
MAX_TOP_LEVEL_MODULES = 8
# temporary: cycles another helper is breaking (the lead removes each entry when its branch lands)
CYCLES_PENDING: dict = {}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(mod: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The nbtrain modules an ``from X import a, b`` names (X itself, or X.a where that is a module)."""
    if node.level:
        base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("nbtrain"):
        return []
    names = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    return names or [target]


def _imports(mod: str, path: Path):
    """(imported nbtrain module, line, inside a function?) for every import in the module."""
    tree = ast.parse(path.read_text())
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(n) for f in funcs for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            targets = _resolve(mod, path, node)
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "nbtrain"]
        else:
            continue
        for t in targets:
            yield t, node.lineno, id(node) in inner


def _packages_run_first(mod: str, target: str) -> list[str]:
    """The packages whose ``__init__`` Python runs when ``mod`` imports ``target`` (nbtrain.build.data for
    nbtrain.build.data.sources), but not nbtrain itself nor a package ``mod`` is inside (already running)."""
    parts = target.split(".")
    pkgs = [".".join(parts[:i]) for i in range(2, len(parts))]
    return [p for p in pkgs if p in MODULES and p != mod and not mod.startswith(p + ".")]


def _graph() -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        for target, _, _ in _imports(mod, path):
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in MODULES and target != mod:
                graph[mod].add(target)
                graph[mod].update(_packages_run_first(mod, target))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_sees_the_package():
    graph = _graph()
    assert "nbtrain.train.loop" in graph and "nbtrain.train.steps" in graph["nbtrain.train.loop"]
    assert "nbtrain.spec.catalog" in graph["nbtrain.train.steps"]            # a package import counts as the package


def test_importing_a_module_of_a_package_counts_the_packages_init():
    assert "nbtrain.build.data" in _graph()["nbtrain.spec.catalog.datasets"]          # it imports nbtrain.build.data.sources
    assert _packages_run_first("nbtrain.build.data.stats", "nbtrain.build.data.bundle") == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_pending_cycle_is_still_there_or_its_entry_goes():
    cycles = [tuple(c) for c in _cycles(_graph())]
    assert all(c in cycles for c in CYCLES_PENDING), "a pending cycle is broken: drop its CYCLES_PENDING entry"


def test_no_import_cycle_among_nbtrain_modules():
    """An edge per import, a package's __init__ included (importing nbtrain.build.data runs data/__init__.py)."""
    assert [c for c in _cycles(_graph()) if tuple(c) not in CYCLES_PENDING] == []


def _pending(path: Path) -> bool:
    return str(path.relative_to(PKG)) in {**LAZY_IMPORTS_PENDING, **LAZY_BY_DESIGN}


def test_no_function_level_import_of_nbtrains_own_modules():
    found = [f"{MODULES[m].relative_to(PKG)}:{line} imports {t}"
             for m in MODULES for t, line, inner in _imports(m, MODULES[m]) if inner and not _pending(MODULES[m])]
    assert found == []


def test_function_level_imports_are_heavy_optional_modules_with_a_reason():
    bad = []
    for path in (p for p in MODULES.values() if not _pending(p)):
        tree, lines = ast.parse(path.read_text()), path.read_text().splitlines()
        for f in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(f):
                if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.__dict__.get("level"):
                    continue
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                top = {n.split(".")[0] for n in names}
                if top - set(LAZY_OK) or "#" not in lines[node.lineno - 1]:
                    bad.append(f"{path.relative_to(PKG)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert bad == [], "\n".join(bad)


def _has_lazy_import(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for f in ast.walk(tree)
               if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f))


def _functions(tree):
    """(qualified name, node) for every function and method, nested ones included."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
    return walk(tree, "")


def test_modules_are_small():
    long = {str(p.relative_to(PKG)): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert {k: v for k, v in long.items() if k not in LONG_MODULES} == {}


def test_functions_are_small():
    long = []
    for path in MODULES.values():
        rel = str(path.relative_to(PKG))
        for name, node in _functions(ast.parse(path.read_text())):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and f"{rel}:{name}" not in LONG_FUNCTIONS and f"{rel}:*" not in LONG_FUNCTIONS:
                long.append(f"{rel}:{name} ({n} lines)")
    assert long == []


def _stale(key: str) -> str:
    """Why the exception ``key`` is not needed any more ('' while it is)."""
    if key in LAZY_IMPORTS_PENDING:
        path = PKG / key
        return "" if path.exists() and _has_lazy_import(path) else f"{key} has no function-level import now"
    rel, _, func = key.partition(":")
    path = PKG / rel
    if not path.exists():
        return f"{rel} is gone"
    if not func:
        return "" if len(path.read_text().splitlines()) > MAX_MODULE_LINES else f"{rel} is short now"
    sizes = {n: node.end_lineno - node.lineno + 1 for n, node in _functions(ast.parse(path.read_text()))}
    longest = max(sizes.values(), default=0) if func == "*" else sizes.get(func, 0)
    return "" if longest > MAX_FUNCTION_LINES else f"{key} is short now"


def test_every_exception_is_still_needed():
    stale = [why for key in [*LONG_MODULES, *LONG_FUNCTIONS, *LAZY_IMPORTS_PENDING] if (why := _stale(key))]
    assert stale == [], "drop these exceptions: " + "; ".join(stale)


def _stage(mod: str) -> str:
    part = mod.split(".")[1] if mod.count(".") else ""
    return "cli" if part == "__main__" else part if part in STAGES else "base"


def test_each_stage_imports_only_the_stages_before_it():
    rank = {s: i for i, s in enumerate(STAGES)}
    late = sorted(f"{a} imports {b}" for a, targets in _graph().items() for b in targets
                  if rank[_stage(b)] > rank[_stage(a)] and (a, _stage(b)) not in STAGE_EXCEPTIONS)
    assert late == []


def test_every_stage_exception_is_still_needed():
    used = {(a, _stage(b)) for a, targets in _graph().items() for b in targets}
    assert [k for k in STAGE_EXCEPTIONS if k not in used] == []


def test_the_top_level_shows_the_stages():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    assert {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()} >= set(STAGES) - {"base", "cli"}


def test_the_package_imports_no_moved_path():
    """Old module paths work for users through nbtrain/_moved.py; nbtrain's own code imports the new ones."""
    from nbtrain._moved import new_path
    old = [f"{MODULES[m].relative_to(PKG)}:{line} imports {t}" for m in MODULES
           for t, line, _ in _imports(m, MODULES[m]) if new_path(t)]
    assert old == []


# -- sinks read the run record, not each other -------------------------------------------------------------------
# A sink is a module of nbtrain/sinks/ or a package there (dashboard/: its modules are one sink). What a sink needs
# from the run it reads in the run record (nbtrain.train.history) through the State, never in another sink. The
# imports that remain between sinks, each with its reason ("*": any sink):
SINK_IMPORTS = {
    ("defaults", "*"): "assembles the run's sinks in dispatch order: the one place that names them all",
    ("*", "memory"): "not a sink (no callback): the GPU memory counters that the dashboard, the progress bar and the "
                     "doctor each show",
    ("doctor", "layerrules"): "not a sink: the doctor's rules over the record's layer statistics, split off for size",
    ("tensorboard", "graph"): "not a sink: the model graph as TensorBoard's protobuf, TensorBoard's alone",
    ("tensorboard", "tbvalues"): "not a sink: the histogram, scalar and image protos TensorBoard's sink writes",
    ("dashboard", "control"): "the dashboard's Stop, Pause and LR buttons drive a Control (one it makes when no "
                              "background Run gives it that Run's own)",
}


def _sink(mod: str) -> str | None:
    """``dashboard`` for nbtrain.sinks.dashboard.feed, ``doctor`` for nbtrain.sinks.doctor, None outside sinks/."""
    parts = mod.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["nbtrain", "sinks"] else None


def _sink_crossings(graph: dict) -> list[tuple[str, str]]:
    """(sink, sink) for every import from one sink's module into another sink's that SINK_IMPORTS does not allow."""
    out = set()
    for a, targets in graph.items():
        for b in targets:
            sa, sb = _sink(a), _sink(b)
            if sa and sb and sa != sb and not {(sa, sb), (sa, "*"), ("*", sb)} & set(SINK_IMPORTS):
                out.add((sa, sb))
    return sorted(out)


def test_the_sink_rule_sees_a_crossing():
    graph = {"nbtrain.sinks.layerstats": {"nbtrain.sinks.tensorboard", "nbtrain.train.history"},
             "nbtrain.sinks.dashboard.sink": {"nbtrain.sinks.dashboard.feed", "nbtrain.sinks.memory"},
             "nbtrain.sinks.defaults": {"nbtrain.sinks.doctor"}}
    assert _sink_crossings(graph) == [("layerstats", "tensorboard")]


def test_no_sink_imports_another_sinks_module():
    assert _sink_crossings(_graph()) == []


def test_every_sink_import_exception_is_still_needed():
    used = {(_sink(a), _sink(b)) for a, targets in _graph().items() for b in targets if _sink(a) and _sink(b)}
    stale = [k for k in SINK_IMPORTS if not any(k[0] in (a, "*") and k[1] in (b, "*") for a, b in used if a != b)]
    assert stale == []


def test_no_sink_scans_the_run_callbacks():
    """A sink never looks through ``state.callbacks`` for another sink (it reads the run record instead)."""
    found = []
    for mod, path in MODULES.items():
        if _sink(mod) in (None, "defaults"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "callbacks":
                found.append(f"{path.relative_to(PKG)}:{node.lineno}")
    assert found == []
