"""TransformPicker: the dataset, its train and val transform pipelines (one-line rows: add, remove, reorder,
edit), a grid of augmented samples (made when first shown, then redrawn on every change), a mean/std button
that fills Normalize, and the equivalent torchvision code on demand. Switching to a tabular set clears the
image pipelines (and hides them); switching back to an image set brings them back."""
from __future__ import annotations

import math
import re

import ipywidgets as W
import traitlets as T

from ..build.data import normalize_stats, sample_grid
from ..build.data.bundle import prepare
from ..codegen import transforms_snippet
from ..errors import NbtrainError
from ..i18n import help_line, t
from ..spec.catalog import TRANSFORMS
from ..spec.catalog.datasets import DATASETS
from ..spec.catalog.datasets import FIELDS as PER_DATASET
from ..spec.trainspec import DataSpec, TransformSpec
from ..viz import grid_png
from .common import SpecValue, code_html, code_toggle
from .compat import Picture, tip
from .fields import FieldsEditor
from .loading import loading
from .params import error_html
from .rows import RowList, hide

COMMON = ("dataset", "batch_size", "val_split", "use_test_split", "seed", "shuffle", "drop_last", "random_val",
          "in_memory")
SPECIFIC = ("path", "root", "download", "image_size", "standardize", "image_shape", "num_classes", "size",
            "delimiter", "header", "target", "features", "task")
FIELDS = COMMON[:1] + SPECIFIC + COMMON[1:]


def _dataset_fields(name: str) -> set:
    """The DataSpec fields the dataset reads (the catalog's FIELDS), and the common ones."""
    return set(COMMON) | set(PER_DATASET.get(name, ()))


def is_tabular(name: str) -> bool:
    return name in DATASETS and "tabular" in DATASETS[name].tags


def _bold(text: str) -> W.HTML:
    return W.HTML(f"<b>{text}</b>")


class TransformPicker(SpecValue, W.VBox):
    """Edits a DataSpec's dataset and pipelines; ``value`` (also ``.spec``) is the last valid one."""
    value = T.Any()
    error = T.Unicode("")
    grid_png = T.Bytes(b"")

    def __init__(self, data_spec: DataSpec | None = None, n_samples: int = 16, preview: bool = True,
                 lang: str = "en"):
        self._loading, self.lang = True, lang
        spec = (data_spec or DataSpec()).copy()
        self.n_samples, self.preview = n_samples, preview
        self.info, self.is_image, self.task = ((1, 28, 28), 10, 1), True, "classification"
        self.fields = FieldsEditor(spec, FIELDS, choices={"dataset": sorted(DATASETS)}, build=self._build, lang=lang)
        self._dataset_tip(spec.dataset)
        self.fields.show_only(_dataset_fields(spec.dataset))
        self.fields.observe(self._update, names=["value", "error"])
        self.fields.inputs["dataset"].observe(self._on_dataset, names="value")
        self._image_pipelines = None  # the pipelines a switch to a tabular set put aside
        new = lambda t="ToTensor": TransformSpec(t)
        self.train = RowList(spec.train_transforms, TRANSFORMS, new, "ToTensor", where="train_transforms",
                             add_label=t("add", lang), lang=lang)
        self.val = RowList(spec.val_transforms, TRANSFORMS, new, "ToTensor", where="val_transforms",
                           add_label=t("add", lang), lang=lang)
        for rl in (self.train, self.val):
            rl.observe(self._on_rows, names=["value", "error"])
        self.stats_button = W.Button(description=t("stats", lang), icon="calculator", tooltip=t("stats.tip", lang),
                                     layout=W.Layout(width="auto", min_width="max-content"))
        self.stats_button.on_click(self.fill_normalize)
        self.message, self.notice = W.HTML(), W.HTML()
        self.image = Picture(layout=W.Layout(width="320px", display="none"))
        self.image_message = W.HTML()
        self.show_samples = W.ToggleButton(description=t("samples", lang), icon="image", value=False,
                                           layout=W.Layout(width="auto"))
        self.show_samples.observe(self._on_show_samples, names="value")
        self.code, self.show_code = code_toggle(lang, show=lambda: self._show_code())
        self.pipelines = W.VBox([
            _bold(t("train_pipeline", lang)), self.train, self.train.footer,
            _bold(t("val_pipeline", lang)), self.val, self.val.footer,
            W.HBox([self.stats_button, self.message]), W.HBox([self.show_samples, self.show_code]),
            self.image_message, self.image, self.code])
        super().__init__([self.fields, self.notice, self.pipelines])
        self.value = spec
        self._loading = False
        self._update()

    def set_spec(self, spec: DataSpec) -> None:
        """Show ``spec`` in every input (``.spec = spec`` does the same)."""
        with loading(self):
            self.fields.set_spec(spec)
            self.train.set_value(spec.train_transforms)
            self.val.set_value(spec.val_transforms)
        self.fields.refresh()
        self._update()

    def _build(self, fields: dict) -> DataSpec:
        d = {**self.value.to_dict(), **fields,
             "train_transforms": [t.to_dict() for t in self.train.value],
             "val_transforms": [t.to_dict() for t in self.val.value]}
        return DataSpec.from_dict(d)

    def _on_rows(self, change=None) -> None:
        if self._loading:
            return
        with loading(self):
            self.fields.refresh()
        self._update()

    def _update(self, change=None) -> None:
        if self._loading:
            return
        for r in (*self.train.rows, *self.val.rows):
            r.show_message(r.error)
        err = self.train.error or self.val.error or self.fields.error
        shown = bool(err)              # on its row or beside its field already
        ds = self.fields.inputs["dataset"].value
        self.fields.show_only(_dataset_fields(ds))
        hide(self.pipelines, is_tabular(ds) and not self.train.rows and not self.val.rows)
        if not err:
            try:
                self.info = self._check(self.fields.value)
            except NbtrainError as e:
                err = str(e)
                shown = self._mark(e)
            else:
                self.value = self.fields.value
        self.error = err
        self.message.value = "" if shown else error_html(err)
        self._show_code()
        if self.preview and self.show_samples.value and not err:
            self.refresh_samples()

    def _dataset_tip(self, name: str) -> None:
        help_ = DATASETS[name].help if name in DATASETS else ""
        tip(self.fields.inputs["dataset"], f"dataset: {help_line(help_, self.lang)}")

    def _on_dataset(self, change) -> None:
        """A tabular set takes no image transforms: put the pipelines aside (back when an image set is chosen)."""
        if self._loading:
            return
        self._dataset_tip(change["new"])
        tabular, had = is_tabular(change["new"]), bool(self.train.rows or self.val.rows)
        if tabular and had:
            self._image_pipelines = (self.train.value, self.val.value)
            with loading(self):
                self.train.set_value([])
                self.val.set_value([])
            self._on_rows()
            self.notice.value = t("tabular_switch", self.lang, ds=change["new"])   # last: what the page shows
        elif not tabular and not had and self._image_pipelines is not None:
            self.notice.value = ""
            with loading(self):
                self.train.set_value(self._image_pipelines[0])
                self.val.set_value(self._image_pipelines[1])
            self._image_pipelines = None
            self._on_rows()
        elif not tabular:
            self.notice.value = ""

    def _on_show_samples(self, change) -> None:
        hide(self.image, not change["new"])
        hide(self.image_message, not change["new"])
        if change["new"] and not self.error:
            self.refresh_samples()

    def _show_code(self) -> None:
        if self.show_code.value:
            self.code.value = code_html(_snippet(self.value))

    def _mark(self, e: NbtrainError) -> bool:
        """Outline the pipeline row the error names (True), or say it is not a row's (False)."""
        m = re.search(r"(train|val)_transforms\[(\d+)\]", e.where or "")
        if m:
            rows = (self.train if m.group(1) == "train" else self.val).rows
            if int(m.group(2)) < len(rows):
                rows[int(m.group(2))].show_message(str(e))
                return True
        return False

    def _check(self, spec: DataSpec) -> tuple:
        """Load the data and walk a real sample through both pipelines (a bad step raises, naming it);
        returns (input_shape, num_classes, steps_per_epoch)."""

        p = prepare(spec)
        n = len(p.train_set)
        steps = n // spec.batch_size if spec.drop_last else math.ceil(n / spec.batch_size)
        classes = len(p.src.class_names) if p.src.task == "classification" else 1
        self.is_image, self.task = p.src.kind == "image", p.src.task
        return tuple(p.sample.shape), classes, max(steps, 1)

    def refresh_samples(self) -> bytes | None:
        """Draw ``n_samples`` training samples through the train pipeline into the image."""
        if not self.is_image:
            self.image.layout.display = "none"
            self.image_message.value = t("no_images", self.lang)
            return None
        try:
            grid = sample_grid(self.value, n=self.n_samples)
        except NbtrainError as e:
            self.image_message.value = error_html(str(e))
            return None
        self.image_message.value = ""
        self.grid_png = grid_png(grid)  # small images upscaled with nearest pixels
        self.image.png = self.grid_png
        return self.grid_png

    def fill_normalize(self, _=None) -> None:
        """Compute the training set's per-channel mean and std and write them into Normalize, adding
        Normalize at the end of a pipeline that has none."""
        try:
            mean, std = normalize_stats(self.value)
        except NbtrainError as e:
            self.message.value = error_html(str(e))
            return
        mean, std = [round(float(m), 4) for m in mean], [round(float(s), 4) for s in std]
        for rl in (self.train, self.val):
            row = next((r for r in rl.rows if r.type.value == "Normalize"), None)
            if row is None:
                rl.insert(len(rl.rows), TransformSpec("Normalize", {"mean": mean, "std": std}))
            else:
                row.params.fields["mean"].set(mean)
                row.params.fields["std"].set(std)
        self.message.value = t("mean_std", self.lang, mean=mean, std=std)


def _snippet(spec: DataSpec) -> str:
    return transforms_snippet(spec)
