"""Setting an editor's widgets from a spec without each change re-validating and redrawing it."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def loading(editor):
    """``editor._loading`` is True inside, so its observers return at once; False afterwards, also when a value
    was refused (an error no longer leaves the editor deaf to every later change)."""
    editor._loading = True
    try:
        yield editor
    finally:
        editor._loading = False
