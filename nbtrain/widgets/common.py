"""What several editors share: the code box with its Code toggle, and the ``spec`` property over ``value``."""
from __future__ import annotations

import html

import ipywidgets as W

from ..i18n import t


def code_html(code: str) -> str:
    return (f'<pre style="font-size:12px;line-height:1.3;color:var(--jp-content-font-color1);'
            f'background:var(--jp-layout-color2);padding:6px">{html.escape(code)}</pre>')


def code_toggle(lang: str, show=None) -> tuple:
    """(code box, Code toggle): the box hidden until the toggle is on; ``show()`` fills it when it opens."""
    code = W.HTML(layout=W.Layout(display="none"))
    toggle = W.ToggleButton(description=t("code", lang), icon="code", tooltip=t("code.tip", lang),
                            layout=W.Layout(width="auto"))

    def on(change) -> None:
        code.layout.display = "" if change["new"] else "none"
        if change["new"] and show is not None:
            show()
    toggle.observe(on, names="value")
    return code, toggle


class SpecValue:
    """``spec``: a copy of the editor's last valid ``value`` (setting it is the editor's own ``set_spec``)."""

    def _begin(self, spec) -> None:
        """The end of a picker's __init__: its ``type`` dropdown watched (``_on_type``), then ``spec`` shown."""
        self.type.observe(self._on_type, names="value")
        self.value = spec
        self.spec = spec

    @property
    def spec(self):
        return self.value.copy()

    @spec.setter
    def spec(self, spec) -> None:
        self.set_spec(spec)
