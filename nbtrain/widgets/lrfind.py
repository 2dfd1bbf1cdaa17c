"""The LR finder in the pickers: one LR range test (``LRFinder``) whose suggestion each field it can set offers
right beside that field (``FinderLine``: the optimizer's lr, a scheduler's max_lr), with its loss curve below."""
from __future__ import annotations

import ipywidgets as W

from ..errors import NbtrainError
from ..i18n import t
from ..viz import lr_find_figure
from ..viz import to_png as figure_png
from .compat import Picture
from .params import error_html

NEEDS_DATA = ("the LR finder needs a model and data: use it from the Workbench, "
              "or set picker.lr_finder = lambda: nbtrain.lr_find(spec)")


class FinderLine(W.HBox):
    """Beside one field: Find LR, what it found, and one button that sets the field to the suggestion."""

    def __init__(self, finder: "LRFinder", field: str, set_value):
        lang = finder.lang
        self.finder, self.field, self.set_value = finder, field, set_value
        self.find_button = W.Button(description=t("find_lr", lang), icon="search", tooltip=t("find_lr.tip", lang),
                                    layout=W.Layout(width="auto", min_width="max-content"))
        self.message = W.HTML()
        self.message.add_class("nbtrain-msg")
        self.use_button = W.Button(description=t("use_suggestion", lang, lr="\u2026"), icon="check", disabled=True,
                                   tooltip=t("use_suggestion.tip", lang, field=field),
                                   layout=W.Layout(width="auto", min_width="max-content"))
        self.find_button.on_click(lambda _: finder.find())
        self.use_button.on_click(lambda _: self.use())
        super().__init__([self.find_button, self.use_button, self.message],
                         layout=W.Layout(align_items="center", flex="0 1 auto"))
        self.add_class("nbtrain-finder")
        self.show()

    def show(self) -> None:
        """The finder's last result (or its message) on this line."""
        s, lang = self.finder.suggestion, self.finder.lang
        self.message.value = self.finder.message
        self.use_button.disabled = s is None
        self.use_button.description = t("use_suggestion", lang, lr=f"{s:.3g}" if s is not None else "\u2026")

    def use(self) -> None:
        """Set the field to the suggestion, rounded to 3 significant digits as shown."""
        if self.finder.suggestion is not None:
            self.set_value(float(f"{self.finder.suggestion:.3g}"))


class LRFinder:
    """One LR range test shared by its lines. ``run() -> LRFindResult`` (the Workbench's runs nbtrain.lr_find on
    its spec); ``image`` is the loss curve (hidden until a test ran); ``suggestion`` the last suggested lr."""

    def __init__(self, run=None, lang: str = "en"):
        self.run, self.lang = run, lang
        self.suggestion, self.message, self.last_error = None, "", None
        self.lines: list[FinderLine] = []
        self.image = Picture(layout=W.Layout(width="440px", display="none"))

    def line(self, field: str, set_value) -> FinderLine:
        """A new line offering the suggestion for ``field``; ``set_value(lr)`` sets it."""
        line = FinderLine(self, field, set_value)
        self.lines.append(line)
        return line

    def _say(self, message: str) -> None:
        self.message = message
        for line in self.lines:
            line.show()

    def find(self):
        """Run the range test; every line then offers its suggestion (an error is shown, the last result kept)."""
        if self.run is None:
            self._say(error_html(NEEDS_DATA))
            return None
        self._say(t("finding", self.lang))
        try:
            result = self.run()
        except NbtrainError as e:
            self._say(error_html(str(e)))
            return None
        except Exception as e:  # a failure of torch or of the data: shown, kept on .last_error
            self.last_error = e
            self._say(error_html(f"the LR finder failed: {type(e).__name__}: {e}"))
            return None
        self.image.png = figure_png(lr_find_figure(result.lrs, result.losses, result.suggestion))
        self.image.layout.display = ""
        self.suggestion = result.suggestion
        self._say(t("suggested", self.lang, lr=f"{result.suggestion:.3g}"))
        return result


class HasFinder:
    """``lr_finder`` of a picker with an LRFinder (``self.finder``): the function its range test runs."""

    @property
    def lr_finder(self):
        """The function the LR finder runs (None: it says it needs a model and data)."""
        return self.finder.run

    @lr_finder.setter
    def lr_finder(self, run) -> None:
        self.finder.run = run
