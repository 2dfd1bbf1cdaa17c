"""The dashboard's front end in the kernel: one anywidget whose ESM (live.js) draws what the Feed sends.

What is fixed for a run travels as synced traits (``key``, ``meta``: total steps, past runs, panels; ``final``: "ended"
once the run ended, when the cell's display also gets the picture of every panel), so a view made late still has it; what grows travels as custom messages ``{"t": "data", ...}``
with only what is new (feed.py), each list part carrying its start index so a replay is idempotent. The browser
sends ``{"t": "hello" | "stop" | "pause" | "lr" | "export" | "theme"}``: a new model asks for everything again, a
click, or whether the page is dark (the final picture follows). Log scale, smoothing, hover, zoom, legends and the
layer pickers are the browser's alone.

Why a Stop click did not reach a foreground ``fit()`` in JupyterLab 4.6 + ipykernel 7.4: JupyterLab sends comm
messages on a kernel subshell (one per comm target, ``commsOverSubshells``), whose own thread could run the click
handler while the main shell is busy. But ipykernel 7.4's shell-channel thread re-routes every ``comm_msg`` to
``comm._reply_subshell_for(data, default)``, which returns the subshell of the last message this comm *published*
from (kernel ``get_parent()``): a widget shown and updated by a foreground cell published from the main shell, so
the click was queued behind the running cell until it ended. ``follow_frontend`` makes our comm keep the subshell
the front end chose (our widget never awaits a reply on another loop), so the handler runs on the subshell thread
and only sets the Control's thread-safe flags. Front ends without subshells (VS Code, Colab, the classic Notebook,
JupyterLab with the setting off) queue the click on the main shell: there the training thread of a foreground run
takes its widget's messages itself (inbox.py). Only where neither works does the tooltip say that a click acts once
the kernel is idle.
"""
from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from ... import i18n

HERE = Path(__file__).resolve().parent
SCRIPTS = ("chart.js", "charts.js", "panels.js", "live.js")      # concatenated in this order into one ES module
_CLASS: list = []
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def esm_source() -> str:
    """The front end as one ES module (what the widget loads, and what an exported page inlines), after its words
    in English and Chinese (the ``chart.*`` strings of i18n.json; the run's meta says which language)."""
    words = {k: v for k, v in i18n.UI.items() if k.startswith("chart.")}
    head = "const WORDS = " + json.dumps(words, ensure_ascii=True).replace("</", "<\\/") + ";\n"
    return head + "".join((HERE / f).read_text(encoding="utf-8") for f in SCRIPTS)


def widget_class():
    """The anywidget class (made once): live.js and live.css as its ESM and CSS."""
    if not _CLASS:
        import anywidget  # heavy and optional: only a notebook dashboard needs it
        import traitlets  # installed with ipywidgets, which anywidget needs

        class LiveDashboard(anywidget.AnyWidget):
            _esm = esm_source()
            _css = (HERE / "live.css").read_text(encoding="utf-8")
            key = traitlets.Unicode().tag(sync=True)            # names this widget's store in the browser
            meta = traitlets.Dict().tag(sync=True)              # the run: total steps, past runs, panels
            final = traitlets.Unicode().tag(sync=True)          # "ended" once the run ended (controls off)
            final_status = traitlets.Unicode().tag(sync=True)
        _CLASS.append(LiveDashboard)
    return _CLASS[0]


def follow_frontend(comm) -> bool:
    """Handle this comm's messages on the subshell the front end sent them on (see the module docstring)."""
    if comm is None or not hasattr(comm, "_reply_subshell_for"):
        return False
    comm._reply_subshell_for = lambda data, default: default
    return True


def sender_subshell(comm) -> str | None:
    """The subshell id of the message being handled now (None: the main shell, or no kernel)."""
    try:
        return comm.kernel.get_parent()["header"].get("subshell_id")
    except (AttributeError, KeyError, TypeError):
        return None


def display_with_id(widget, display=None):
    """Show ``widget`` in the cell's output with a display id; returns the DisplayHandle (``.update`` replaces it).

    An ipywidgets 8 widget is shown through ``_repr_mimebundle_`` and IPython keeps the id. An ipywidgets 7 widget
    (Colab's) displays itself through ``_ipython_display_``, which IPython prefers and which drops the id, so the final picture's update would find no
    output to replace and a saved notebook would keep a widget without state: its bundle is published here with the
    id instead. ``display``: IPython.display.display (injected in tests)."""
    if display is None:
        from IPython.display import display  # IPython: there whenever a widget is shown (a kernel)
    if not hasattr(widget, "_ipython_display_"):          # ipywidgets 8: IPython keeps the id
        return display(widget, display_id=True)
    text = repr(widget)
    bundle = {"text/plain": text[:110] + "…" if len(text) > 110 else text,
              WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}
    handle = display(bundle, raw=True, display_id=True)
    widget._handle_displayed()                          # what its own _ipython_display_ does once shown
    return handle


class LiveView:
    """One dashboard's widget: ``send(msg)``, ``display()``, ``finish(png, text)``; clicks go to ``on_message``.

    ``sent`` (a list, or None) records every message sent, for tests and the overhead benchmark.
    """

    def __init__(self, on_message, meta: dict | None = None):
        self.widget = widget_class()(key=uuid.uuid4().hex, meta=meta or {})
        self.on_message = on_message
        self.sent: list | None = None
        self.handle, self._final = None, None
        self.via_subshell = False
        self.widget.on_msg(self._received)
        follow_frontend(getattr(self.widget, "comm", None))

    def _received(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if sender_subshell(getattr(self.widget, "comm", None)) is not None:
            self.via_subshell = True
        self.on_message(content)

    def send(self, msg: dict) -> None:
        if self.sent is not None:
            self.sent.append(msg)
        self.widget.send(msg)

    def display(self) -> None:
        self.handle = display_with_id(self.widget)

    def finish(self, png: bytes, text: str) -> None:
        """The run ended: the widget stays live (every panel, hover, zoom, Export HTML) while the kernel does, and the
        cell's display gets the final picture beside it, which a saved notebook keeps for readers without widget
        state (GitHub, nbviewer)."""
        with self.widget.hold_sync():
            self.widget.final_status = text
            self.widget.final = "ended"
        self._final = final_bundle(self.widget, png, text)
        if self.handle is not None:
            self.handle.update(self._final, raw=True)

    def resend_final(self) -> None:
        """The final picture again, from the thread that calls (a comm handler's): the widget's and the cell's."""
        if self._final is not None:
            self.widget.send_state(["final_status", "final"])
            if self.handle is not None:
                self.handle.update(self._final, raw=True)


def final_bundle(widget, png: bytes, text: str) -> dict:
    """The display at the end of a run: the widget's view (what a front end with the widget's state renders first)
    and the picture of every panel (what GitHub and nbviewer render), with the status line as text."""
    return {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
            "image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}
