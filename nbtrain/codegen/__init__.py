"""Plain-PyTorch source for the parts of a spec (transforms, optimizer, scheduler) and ``to_code`` for one
runnable script that reproduces a whole run. The GUI teaches the code.

Nothing from a spec reaches the code but quoted literals (``literals.py``), catalog names, checked numbers and
the canonical form of checked expressions; the data code is the package's own (``nbtrain.build.data.plain`` and
``nbtrain.build.data.csvfile`` emitted verbatim), so a script cannot drift from ``fit()``.
"""
from .literals import kwargs_code, py
from .script import to_code
from .snippets import optimizer_code, scheduler_code, transforms_snippet

__all__ = ["kwargs_code", "optimizer_code", "py", "scheduler_code", "to_code", "transforms_snippet"]
