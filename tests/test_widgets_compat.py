"""nbtrain.widgets.compat and the dashboard's display_with_id: the installed ipywidgets (8 in the main venv, 7.7.1
in the Colab profile) gets each feature its own way, and the other version's way is checked on a stand-in that
has exactly the traits that version has (the functions ask the widget for the trait, nothing else)."""
import base64
import re

import ipywidgets as W
import traitlets as T

from nbtrain.sinks.dashboard.view import WIDGET_VIEW, display_with_id
from nbtrain.widgets import compat

V8 = int(W.__version__.split(".")[0]) >= 8


def test_hover_help_lands_in_the_trait_this_ipywidgets_shows():
    for w in (W.Text(), W.Dropdown(options=["a"]), W.FloatText(), W.Checkbox(), W.IntSlider()):
        assert compat.tip(w, "lr: the step size") is w
        assert compat.tip_of(w) == "lr: the step size"
        shown = w.tooltip if V8 else w.description_tooltip      # what the front end of this version reads
        assert shown == "lr: the step size"
    b = W.Button(tooltip="stop the run")                        # Button and ToggleButton: `tooltip` in both
    assert compat.tip_of(b) == "stop the run" and compat.tip_of(W.ToggleButton(tooltip="x")) == "x"


class Text7(T.HasTraits):
    """An ipywidgets 7 Text's hover help: only description_tooltip (no tooltip trait)."""
    description_tooltip = T.Unicode(None, allow_none=True)


def test_on_ipywidgets_7_a_text_field_gets_description_tooltip():
    w = compat.tip(Text7(), "epochs: passes over the training set")
    assert w.description_tooltip == "epochs: passes over the training set"
    assert compat.tip_of(w) == "epochs: passes over the training set" and compat.tip_of(Text7()) == ""


def test_tab_titles_show_on_the_installed_ipywidgets():
    tabs = compat.tab([W.HTML(), W.HTML(), W.HTML()], ["Data", "Model", "训练"])
    assert [tabs.get_title(i) for i in range(3)] == ["Data", "Model", "训练"]
    if V8:
        assert tuple(tabs.titles) == ("Data", "Model", "训练")


class Tab7(W.Box):
    """An ipywidgets 7 Tab: no ``titles`` trait; ``set_title(i, t)`` fills ``_titles``."""
    _titles = T.Dict()

    def set_title(self, index, title):
        self._titles = {**self._titles, str(index): title}


def test_on_ipywidgets_7_tab_titles_go_through_set_title():
    tabs = compat.tab([W.HTML(), W.HTML()], ["Data", "Model"], make=Tab7)
    assert tabs._titles == {"0": "Data", "1": "Model"} and len(tabs.children) == 2


def test_styles_are_ones_the_widgets_accept():
    b = W.ToggleButton(style=compat.toggle_button_style())
    h = W.HTML(style=compat.html_style())
    expect = ("ToggleButtonStyle", "HTMLStyle") if V8 else ("DescriptionStyle", "DescriptionStyle")
    assert (type(b.style).__name__, type(h.style).__name__) == expect


def test_a_left_border_is_one_side_where_the_layout_has_it_else_the_whole_border():
    layout = W.Layout()
    compat.left_border(layout, "3px solid #bbb")
    if V8:
        assert (layout.border_left, layout.border) == ("3px solid #bbb", None)
    else:
        assert layout.border == "3px solid #bbb"

    class Layout7(T.HasTraits):
        border = T.Unicode(None, allow_none=True)
    old = Layout7()
    compat.left_border(old, "3px solid #bbb")
    assert old.border == "3px solid #bbb"


class Shown:
    """IPython's display, recording its calls; returns a handle named by the call."""
    def __init__(self):
        self.calls = []

    def __call__(self, obj, **kw):
        self.calls.append((obj, kw))
        return f"handle {len(self.calls)}"


def test_an_ipywidgets_8_widget_is_displayed_with_its_id_by_ipython():
    shown, w = Shown(), W.HTML("x")
    if not V8:                               # the Colab profile: its widgets take the 7 path (next test)
        assert hasattr(w, "_ipython_display_")
        return
    assert display_with_id(w, shown) == "handle 1" and shown.calls == [(w, {"display_id": True})]


class Widget7:
    """An ipywidgets 7 widget as IPython sees it: it displays itself (``_ipython_display_``), has a model id."""
    model_id = "4f2c"

    def __init__(self):
        self.displayed = 0

    def _ipython_display_(self, **kw):
        raise AssertionError("would publish without the display id")

    def _handle_displayed(self, **kw):
        self.displayed += 1

    def __repr__(self):
        return "LiveDashboard(" + "k" * 200 + ")"


def test_an_ipywidgets_7_widget_is_published_as_its_bundle_with_the_display_id():
    shown, w = Shown(), Widget7()
    assert display_with_id(w, shown) == "handle 1"
    [(bundle, kw)] = shown.calls
    assert kw == {"raw": True, "display_id": True}
    assert bundle[WIDGET_VIEW] == {"version_major": 2, "version_minor": 0, "model_id": "4f2c"}
    assert bundle["text/plain"].startswith("LiveDashboard(kkk") and len(bundle["text/plain"]) == 111
    assert w.displayed == 1                  # on_displayed callbacks run, as the widget's own display does


def test_a_picture_is_base64_in_html():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    p = compat.Picture(layout=W.Layout(width="440px"))
    assert p.value == ""
    p.png = png
    src = re.fullmatch(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" style="width:100%">', p.value)
    assert src and base64.b64decode(src[1]) == png
    assert "png" not in p.get_state()                     # the bytes themselves never travel



def _widgets() -> list:
    from ipywidgets.widgets import widget
    found = getattr(widget, "_instances", None)            # ipywidgets 8; 7 keeps them on Widget.widgets
    return list((found if found is not None else W.Widget.widgets).values())


def test_no_workbench_widget_carries_a_binary_comm_buffer():
    """Colab's widget manager drops binary buffers: every widget's state is JSON (the PNGs are base64)."""
    from ipywidgets.widgets.widget import _remove_buffers

    from nbtrain.widgets import Workbench
    wb = Workbench()
    wb.data.show_samples.value = True                       # the transform preview's PNG
    wb.tabs.selected_index = 3                              # the schedule's LR curve
    assert wb.data.image.png.startswith(b"\x89PNG") and wb.sched.image.png.startswith(b"\x89PNG")
    states = [w.get_state() for w in _widgets()]
    assert len(states) > 100
    assert [bufs for _, _, bufs in map(_remove_buffers, states) if bufs] == []
