"""Every `raise` of an NbtrainError (or a subclass) in nbtrain/ that no test reaches: file:line and message.

    python tools/untested_errors.py                    # runs the tests (all but CHILDREN_ONLY), then lists
    python tools/untested_errors.py tests/test_spec.py # only these tests (pytest arguments after the script)
    python tools/untested_errors.py --record R.json ...  # also keep what was reached; --merge R.json adds an old record

How: the raise statements are found in the source (ast): `raise X(...)` where X is NbtrainError, one of its
subclasses, or a function annotated to return one (errors.unknown_name, layercheck.layer_error). The tests then run in
this process (pytest.main) with NbtrainError.__init__ wrapped: each error built notes the innermost raise statement
on its stack, which is the one that raises it. A raise is "reached" only when its error was built while a test ran.

Why not coverage.py: it traces every line of every test (the suite takes ~18 min on 2 cores, most of it Python), and
the question is about 220 lines; this costs nothing until an error is built. It is conservative where coverage would
be too: a raise reached only inside a child process (a `nbtrain run` subprocess, a DataLoader worker) is not seen,
so it is listed as untested, never the other way round.

Exit status: 0 when every raise was reached, 1 when some were not, 2 when the tests failed (the list is still printed).
"""
from __future__ import annotations

import argparse
import ast
import bisect
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "nbtrain"
ERRORS = {"NbtrainError"}
# tests whose nbtrain runs only in child processes (notebook kernels, installed wheels, browsers): nothing to see here
CHILDREN_ONLY = ["tests/browser", "tests/test_notebooks.py", "tests/test_notebooks_zh.py", "tests/test_docs_notebooks.py",
                 "tests/test_wheel.py", "tests/test_colab_pins.py"]


@dataclass(frozen=True)
class Site:
    path: str          # relative to the repository
    line: int
    end: int
    func: str          # the enclosing function, for a key that survives edits above it
    source: str        # the raise statement, unparsed

    @property
    def key(self) -> str:
        return f"{self.path}::{self.func}::{self.source}"

    @property
    def message(self) -> str:
        return self.source.removeprefix("raise ")


def _error_names(trees: dict) -> tuple[set, set]:
    """NbtrainError's subclasses (by class name, transitively) and the functions annotated to return one."""
    classes = set(ERRORS)
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for n in ast.walk(tree):
                if isinstance(n, ast.ClassDef) and n.name not in classes and any(
                        _name(b) in classes for b in n.bases):
                    classes.add(n.name)
                    grew = True
    helpers = {n.name for tree in trees.values() for n in ast.walk(tree)
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns is not None
               and any(_name(x) in classes for x in ast.walk(n.returns))}
    return classes, helpers


def _name(node) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def sites(pkg: Path = PKG) -> list[Site]:
    """Every `raise <an NbtrainError>(...)` in the package's source, in file and line order."""
    trees = {p: ast.parse(p.read_text(), str(p)) for p in sorted(pkg.rglob("*.py"))}
    classes, helpers = _error_names(trees)
    found = []
    for path, tree in trees.items():
        _raises(tree, "", str(path.relative_to(pkg.parent)), classes | helpers, found)
    return found


def _raises(node, func: str, rel: str, makers: set, found: list) -> None:
    """Append a Site for each `raise <maker>(...)` under ``node``; ``func`` is the enclosing qualified name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call) and _name(child.exc.func) in makers:
            found.append(Site(rel, child.lineno, child.end_lineno, func, ast.unparse(child)))
        named = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        _raises(child, f"{func}.{child.name}".lstrip(".") if named else func, rel, makers, found)


class Recorder:
    """Wraps NbtrainError.__init__: each error built marks the innermost raise statement on the stack."""

    def __init__(self, all_sites: list[Site]):
        self.spans: dict[str, list] = {}
        for s in all_sites:
            self.spans.setdefault(str(ROOT / s.path), []).append((s.line, s.end, s))
        for v in self.spans.values():
            v.sort(key=lambda t: t[0])
        self.starts = {f: [t[0] for t in v] for f, v in self.spans.items()}
        self.reached: set[str] = set()

    def site_at(self, filename: str, line: int):
        """The raise statement whose lines hold ``line`` (raise statements never nest), or None."""
        spans = self.spans.get(filename)
        if not spans:
            return None
        i = bisect.bisect_right(self.starts[filename], line) - 1
        return spans[i][2] if i >= 0 and spans[i][1] >= line else None

    def install(self):
        """Wrap NbtrainError.__init__; returns the function that puts the real one back."""
        from nbtrain.errors import NbtrainError
        real, rec = NbtrainError.__init__, self

        def __init__(self, *a, **kw):
            f = sys._getframe(1)
            while f is not None:
                site = rec.site_at(f.f_code.co_filename, f.f_lineno)
                if site is not None:
                    rec.reached.add(site.key)
                    break
                f = f.f_back
            real(self, *a, **kw)
        NbtrainError.__init__ = __init__
        return lambda: setattr(NbtrainError, "__init__", real)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", help="write the reached raises (keys) to this JSON file")
    ap.add_argument("--merge", action="append", default=[], help="add the raises an earlier --record reached")
    ap.add_argument("--no-tests", action="store_true", help="run no tests (with --merge: list from records alone)")
    args, pytest_args = ap.parse_known_args(argv)
    all_sites = sites()
    rec = Recorder(all_sites)
    rc = 0
    if not args.no_tests:
        import pytest
        sys.path.insert(0, str(ROOT))
        rec.install()
        rc = pytest.main(pytest_args or ["tests", "-p", "no:cacheprovider", *(f"--ignore={t}" for t in CHILDREN_ONLY)])
    for m in args.merge:
        rec.reached |= set(json.loads(Path(m).read_text()))
    if args.record:
        Path(args.record).write_text(json.dumps(sorted(rec.reached), indent=0))
    missed = [s for s in all_sites if s.key not in rec.reached]
    for s in missed:
        print(f"{s.path}:{s.line}: {s.message}")
    print(f"{len(missed)} of {len(all_sites)} raises of an NbtrainError reached by no test"
          + (f" (the tests failed: pytest exit {int(rc)})" if rc else ""))
    return 2 if rc else 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
