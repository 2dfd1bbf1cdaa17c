"""What differs between ipywidgets 7.7 (Colab's, which its widget manager needs) and 8, in one place.

Every widget file gets these from here; none asks which version it runs on. Each function asks the widget (or the
module) for the feature it needs, so a widget-7 kernel gets the widget-7 way and nothing is silently dropped:

- hover help: ``tooltip`` on every widget in 8; in 7 only Button and ToggleButton have it, the others
  (Text, Dropdown, ...) take ``description_tooltip`` (an unknown keyword is dropped without a word by traitlets);
- a Tab's titles: ``Tab(titles=...)`` in 8, ``set_title(i, t)`` in 7;
- the ToggleButton's and HTML's own style classes (8 only; in 7 both take DescriptionStyle);
- a one-sided border (``Layout.border_left``, 8 only; in 7 the whole border).

And one thing that differs between front ends, not versions: ``Picture`` shows a PNG as base64 in HTML, where
``W.Image`` would send it as a binary comm buffer, which Colab's widget manager drops
(googlecolab/colab-cdn-widget-manager #33). Nothing nbtrain sends carries a binary buffer.

Button and ToggleButton have ``tooltip`` in both versions and keep it. The one difference outside the widgets, a
widget shown with a display id (the dashboard's final picture), is ``display_with_id`` in sinks/dashboard/view.py:
the sinks come before the widgets in the package's stages, and the dashboard is its only user.
"""
from __future__ import annotations

import base64

import ipywidgets as W
import traitlets as T
from ipywidgets.widgets import widget_bool, widget_description, widget_string


def tip(widget, text: str):
    """Set ``widget``'s hover help to ``text`` (the trait this ipywidgets has for it); returns the widget."""
    setattr(widget, "tooltip" if widget.has_trait("tooltip") else "description_tooltip", text)
    return widget


def tip_of(widget) -> str:
    """The hover help ``tip`` set (empty when none)."""
    return getattr(widget, "tooltip" if widget.has_trait("tooltip") else "description_tooltip", None) or ""


def tab(children, titles, make=W.Tab):
    """A Tab (``make``: its class) over ``children`` with one title each."""
    if "titles" in make.class_trait_names():
        return make(children=list(children), titles=list(titles))
    tabs = make(children=list(children))
    for i, title in enumerate(titles):
        tabs.set_title(i, title)
    return tabs


def toggle_button_style():
    """The style a ToggleButton takes (ToggleButtonStyle in 8, DescriptionStyle in 7)."""
    return getattr(widget_bool, "ToggleButtonStyle", widget_description.DescriptionStyle)()


def html_style():
    """The style an HTML widget takes (HTMLStyle in 8, DescriptionStyle in 7)."""
    return getattr(widget_string, "HTMLStyle", widget_description.DescriptionStyle)()


def left_border(layout, css: str) -> None:
    """A border on the left side only where the Layout has ``border_left`` (8); else the whole border (7)."""
    setattr(layout, "border_left" if layout.has_trait("border_left") else "border", css)



class Picture(W.HTML):
    """A PNG (``png``, bytes) as an ``<img>`` with a base64 data URI, as wide as the widget's layout."""
    png = T.Bytes(b"")                                  # not synced: the HTML value carries it

    @T.observe("png")
    def _draw(self, change) -> None:
        data = base64.b64encode(change["new"]).decode("ascii")
        self.value = f'<img src="data:image/png;base64,{data}" style="width:100%">' if change["new"] else ""
