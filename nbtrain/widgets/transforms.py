"""TransformPicker: the dataset, its train and val transform pipelines (add, remove, reorder, edit),
a grid of augmented samples that refreshes on every change, a mean/std button that fills Normalize,
and the equivalent torchvision code."""
from __future__ import annotations

import re

import ipywidgets as W
import traitlets as T

from ..catalog import TRANSFORMS
from ..errors import NbtrainError
from ..spec import DataSpec, TransformSpec
from .fields import FieldsEditor
from .loading import loading
from .optimizer import code_html
from .params import error_html
from .rows import RowList

COMMON = ("dataset", "batch_size", "val_split", "use_test_split", "seed", "shuffle", "drop_last", "random_val",
          "in_memory")
SPECIFIC = ("path", "root", "download", "image_size", "standardize", "image_shape", "num_classes", "size",
            "delimiter", "header", "target", "features", "task")
FIELDS = COMMON[:1] + SPECIFIC + COMMON[1:]


def _dataset_fields(name: str) -> set:
    """The DataSpec fields the dataset reads (the catalog's FIELDS), and the common ones."""
    from ..catalog.datasets import FIELDS as PER_DATASET
    return set(COMMON) | set(PER_DATASET.get(name, ()))


class TransformPicker(W.VBox):
    """Edits a DataSpec's dataset and pipelines; ``value`` (also ``.spec``) is the last valid one."""
    value = T.Any()
    error = T.Unicode("")
    grid_png = T.Bytes(b"")

    def __init__(self, data_spec: DataSpec | None = None, n_samples: int = 16, preview: bool = True):
        self._loading = True
        spec = (data_spec or DataSpec()).copy()
        self.n_samples, self.preview = n_samples, preview
        self.info, self.is_image, self.task = ((1, 28, 28), 10, 1), True, "classification"
        from ..catalog.datasets import DATASETS
        self.fields = FieldsEditor(spec, FIELDS, choices={"dataset": sorted(DATASETS)}, build=self._build)
        self.fields.inputs["dataset"].tooltip = DATASETS[spec.dataset].help if spec.dataset in DATASETS else ""
        self.fields.show_only(_dataset_fields(spec.dataset))
        self.fields.observe(self._update, names=["value", "error"])
        new = lambda t="ToTensor": TransformSpec(t)
        self.train = RowList(spec.train_transforms, TRANSFORMS, new, "ToTensor", where="train_transforms", add_label="Add")
        self.val = RowList(spec.val_transforms, TRANSFORMS, new, "ToTensor", where="val_transforms", add_label="Add")
        for rl in (self.train, self.val):
            rl.observe(self._on_rows, names=["value", "error"])
        self.stats_button = W.Button(description="compute mean/std", icon="calculator",
                                     tooltip="per-channel mean and std of the training set, written into Normalize")
        self.stats_button.on_click(self.fill_normalize)
        self.message = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(width="320px"))
        self.image_message = W.HTML()
        self.code = W.HTML()
        super().__init__([
            self.fields, W.HTML("<b>Train pipeline</b>"), self.train, W.HTML("<b>Validation pipeline</b>"), self.val,
            W.HBox([self.stats_button, self.message]), W.HTML("<b>Augmented training samples</b>"),
            self.image_message, self.image, W.HTML("<b>Code</b>"), self.code])
        self.value = spec
        self._loading = False
        self._update()

    @property
    def spec(self) -> DataSpec:
        return self.value.copy()

    @spec.setter
    def spec(self, spec: DataSpec) -> None:
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
        ds = self.fields.inputs["dataset"].value
        self.fields.show_only(_dataset_fields(ds))
        if not err:
            try:
                self.info = self._check(self.fields.value)
            except NbtrainError as e:
                err = str(e)
                self._mark(e)
            else:
                self.value = self.fields.value
        self.error = err
        self.message.value = error_html(err)
        self.code.value = code_html(_snippet(self.value))
        if self.preview and not err:
            self.refresh_samples()

    def _mark(self, e: NbtrainError) -> None:
        """Outline the pipeline row the error names."""
        m = re.search(r"(train|val)_transforms\[(\d+)\]", e.where or "")
        if m:
            rows = (self.train if m.group(1) == "train" else self.val).rows
            if int(m.group(2)) < len(rows):
                rows[int(m.group(2))].show_message(str(e))

    def _check(self, spec: DataSpec) -> tuple:
        """Load the data and walk a real sample through both pipelines (a bad step raises, naming it);
        returns (input_shape, num_classes, steps_per_epoch)."""
        import math

        from ..data.bundle import prepare
        p = prepare(spec)
        n = len(p.train_set)
        steps = n // spec.batch_size if spec.drop_last else math.ceil(n / spec.batch_size)
        classes = len(p.src.class_names) if p.src.task == "classification" else 1
        self.is_image, self.task = p.src.kind == "image", p.src.task
        return tuple(p.sample.shape), classes, max(steps, 1)

    def refresh_samples(self) -> bytes | None:
        """Draw ``n_samples`` training samples through the train pipeline into the image."""
        from ..data import sample_grid
        from ..viz import grid_png
        if not self.is_image:
            self.image.layout.display = "none"
            self.image_message.value = "(a tabular dataset: no images to show)"
            return None
        try:
            grid = sample_grid(self.value, n=self.n_samples)
        except NbtrainError as e:
            self.image_message.value = error_html(str(e))
            return None
        self.image_message.value = ""
        self.image.layout.display = ""
        self.grid_png = grid_png(grid)  # small images upscaled with nearest pixels
        self.image.value = self.grid_png
        return self.grid_png

    def fill_normalize(self, _=None) -> None:
        """Compute the training set's per-channel mean and std and write them into Normalize, adding
        Normalize at the end of a pipeline that has none."""
        from ..data import normalize_stats
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
        self.message.value = f"mean {mean}, std {std}"


def _snippet(spec: DataSpec) -> str:
    from ..codegen import transforms_snippet
    return transforms_snippet(spec)
