"""The spec: everything a user chooses, as plain dataclasses that round-trip through JSON.

Widgets edit a spec, builders turn it into torch objects, ``fit`` runs it. Components that name a
catalog entry (a layer, a transform, an optimizer, a scheduler) keep their entry's parameters in
``params`` and are written flat: ``{"type": "Linear", "name": "fc1", "out_features": 10}``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

from torch import nn

from ..errors import SpecError
from .base import Component, SpecBase, _join, f
from .catalog import INITS, LOSSES, METRICS, Entry
from .catalog.datasets import DATASETS
from .checks import check_lr

MAX_IMAGE_SIZE = 256    # digits' image_size: see DataSpec.validate
MAX_LAYERS = 10_000     # a spec's layers: far above any hand-written model, far below a build that never ends
MAX_IMAGE_SIDE = 1024   # synthetic images: FakeData draws each in memory (4x1024x1024 float32: 16 MB a sample)


# -- data ----------------------------------------------------------------------------------------
@dataclass
class TransformSpec(Component):
    TABLE: ClassVar[str] = "TRANSFORMS"
    type: str = f("ToTensor", "torchvision.transforms.v2 name (see nbtrain.spec.catalog.TRANSFORMS)")
    params: dict = f({}, "parameters of the transform")


@dataclass
class DataSpec(SpecBase):
    dataset: str = f("digits", "digits, iris, wine, breast_cancer, synthetic, mnist, fashion_mnist, cifar10, csv, "
                     "image_folder (see nbtrain.spec.catalog.DATASETS)")
    root: str = f("data", "folder of torchvision dataset files (mnist, fashion_mnist, cifar10)")
    download: bool = f(False, "let torchvision download missing files")
    path: str = f("", "CSV file (.csv or .csv.gz) or ImageFolder directory")
    delimiter: str = f(",", "CSV field separator")
    header: Union[bool, str] = f("auto", "the CSV's first row names the columns: true, false, or auto (a header "
                                 "when a cell of it is text over a number below; a numeric first row is data)",
                                 choices=("auto", True, False))
    target: Union[int, str] = f(-1, "CSV target column, by name or index (-1: the last)")
    features: list[Union[int, str]] = f([], "CSV feature columns by name or index (empty: all but the target)")
    task: str = f("auto", "CSV: classification, regression, or auto (integer target with <= 20 values: classes); "
                  "binary (any set of 2 classes): float 0/1 targets of shape (N, 1), as BCEWithLogitsLoss and "
                  "BCELoss take (chosen by itself when the loss is one of them)",
                  choices=("auto", "classification", "regression", "binary"))
    standardize: bool = f(True, "tabular sets: scale features to mean 0, std 1 (training split's statistics)")
    image_size: int = f(28, "digits: side to which the 8x8 images are resized (0 or 8: native size; at most 256)")
    image_shape: list[int] = f([1, 28, 28], "synthetic: [channels, height, width], sides at most 1024")
    num_classes: int = f(10, "synthetic: number of classes")
    size: int = f(1000, "synthetic: number of samples")
    train_transforms: list[TransformSpec] = f([], "train pipeline, applied in order (ToTensor implied at the end "
                                                  "when it leaves integer images)")
    val_transforms: list[TransformSpec] = f([], "validation pipeline (random transforms only with random_val)")
    random_val: bool = f(False, "allow random transforms in the validation pipeline")
    val_split: float = f(0.2, "fraction held out for validation, in (0, 1)")
    use_test_split: bool = f(False, "validate on the dataset's own test split instead of val_split")
    batch_size: int = f(64, "samples per batch")
    shuffle: bool = f(True, "reshuffle the training set each epoch")
    num_workers: int = f(0, "DataLoader worker processes")
    pin_memory: bool = f(False, "page-locked memory for faster host-to-GPU copies")
    drop_last: bool = f(False, "drop the last incomplete training batch")
    seed: int = f(0, "seed of the split and of the batch order")
    in_memory: str = f("auto", "fast in-memory path: auto (when valid), on, off", choices=("auto", "on", "off"))

    def validate(self, where: str = "") -> None:
        if not 0 < self.val_split < 1:
            raise SpecError(f"must be in (0, 1), got {self.val_split:g}", _join(where, "val_split"),
                            "e.g. 0.2 holds out 20% of the samples for validation")
        for name, low in (("batch_size", 1), ("num_workers", 0), ("image_size", 0), ("num_classes", 1), ("size", 1)):
            v = getattr(self, name)
            if v < low:
                raise SpecError(f"must be >= {low}, got {v}", _join(where, name))
        if self.image_size > MAX_IMAGE_SIZE:
            raise SpecError(f"must be <= {MAX_IMAGE_SIZE}, got {self.image_size}", _join(where, "image_size"),
                            "the 8x8 digits hold no more detail, and 1797 images of 256x256 already take 470 MB")
        if len(self.image_shape) != 3 or not 1 <= self.image_shape[0] <= 4 or min(self.image_shape) < 1 \
                or max(self.image_shape[1:]) > MAX_IMAGE_SIDE:
            raise SpecError(f"expected [channels (1-4), height, width (each 1-{MAX_IMAGE_SIDE})], got "
                            f"{self.image_shape}", _join(where, "image_shape"), "e.g. [3, 32, 32]")
        DATASETS.get_entry(self.dataset, _join(where, "dataset"))


# -- model ---------------------------------------------------------------------------------------
@dataclass
class LayerSpec(Component):
    TABLE: ClassVar[str] = "LAYERS"
    type: str = f("Identity", "torch.nn layer name (see nbtrain.spec.catalog.LAYERS)")
    name: str = f("", "layer name in an OrderedDict model (empty: numbered)")
    init: str = f("", "weight initialiser (see nbtrain.spec.catalog.INITS); empty: the model's or torch's default")
    params: dict = f({}, "parameters of the layer")

    def validate(self, where: str = "") -> None:
        if self.init:
            INITS.get_entry(self.init, _join(where, "init"))
        for j, d in enumerate(self.params.get("body", ())):      # a Residual's layers: each checked as one
            LayerSpec.from_dict(d, _join(where, f"body[{j}]"))


def _count_layers(n: int, where: str) -> None:
    if n > MAX_LAYERS:
        raise SpecError(f"{n} layers, more than the {MAX_LAYERS} a spec may hold", _join(where, "layers"),
                        "build a model this large in Python and pass it to fit(model=...)")


@dataclass
class ModelSpec(SpecBase):
    layers: list[LayerSpec] = f([], "the layers of the nn.Sequential, in order")
    init: str = f("", "weight initialiser for every layer without its own (empty: torch's default)")
    init_params: dict = f({}, "parameters of the initialiser, e.g. {'nonlinearity': 'relu'}")

    @classmethod
    def _from_fields(cls, d: dict, where: str):
        layers = d.get("layers")
        if isinstance(layers, list):       # counted before any layer is parsed: 550k layers took minutes to parse
            _count_layers(len(layers), where)
        return super()._from_fields(d, where)

    def validate(self, where: str = "") -> None:
        _count_layers(len(self.layers), where)     # a spec built in Python: a 550k-layer one builds for minutes
        if self.init:
            e = INITS.get_entry(self.init, _join(where, "init"))
            self.init_params = e.check_params(self.init_params, _join(where, "init_params"))
        names = [l.name for l in self.layers]
        if any(names) and not all(names):
            i = next(i for i, n in enumerate(names) if not n)
            raise SpecError("some layers are named and this one is not", _join(where, f"layers[{i}].name"),
                            "name every layer (OrderedDict model) or none (plain Sequential)")
        seen = set()
        for i, n in enumerate(names):
            if n and (n in seen or "." in n):
                raise SpecError(f"layer name {n!r} is {'repeated' if n in seen else 'not allowed (no dots)'}",
                                _join(where, f"layers[{i}].name"), "give each layer a unique name without dots")
            if n and hasattr(nn.Sequential, n):      # torch's add_module: KeyError "attribute 'forward' already exists"
                raise SpecError(f"layer name {n!r} is taken by torch (nn.Sequential.{n})", _join(where, f"layers[{i}].name"),
                                f"choose another name, e.g. {n + '_layer'!r}")
            seen.add(n)


# -- optimisation --------------------------------------------------------------------------------
@dataclass
class ParamGroupSpec(SpecBase):
    pattern: str = f("", "layer-name pattern (fnmatch, e.g. 'fc*' or '4'); parameters of matching layers")
    lr: Union[float, None] = f(None, "learning rate of this group (null: the optimizer's)")
    weight_decay: Union[float, None] = f(None, "weight decay of this group (null: the optimizer's)")

    def validate(self, where: str = "") -> None:
        if not self.pattern:
            raise SpecError("empty pattern", _join(where, "pattern"), "name the layers, e.g. 'fc*' or '0'")
        check_lr(self.lr, _join(where, "lr"))
        if self.weight_decay is not None and self.weight_decay < 0:
            raise SpecError(f"must be >= 0, got {self.weight_decay:g}", _join(where, "weight_decay"))


@dataclass
class OptimSpec(Component):
    TABLE: ClassVar[str] = "OPTIMIZERS"
    type: str = f("Adam", "torch.optim name (see nbtrain.spec.catalog.OPTIMIZERS)")
    lr: float = f(1e-3, "learning rate, > 0")
    groups: list[ParamGroupSpec] = f([], "param groups by layer-name pattern, each with its own lr / weight_decay")
    params: dict = f({}, "other parameters of the optimizer")

    def validate(self, where: str = "") -> None:
        check_lr(self.lr, _join(where, "lr"))


@dataclass
class SchedSpec(Component):
    TABLE: ClassVar[str] = "SCHEDULERS"
    type: str = f("", "torch.optim.lr_scheduler name (empty: constant LR)")
    interval: str = f("auto", "step the scheduler per 'epoch' or per 'step' (auto: per step for OneCycleLR, CyclicLR)",
                      choices=("auto", "epoch", "step"))
    warmup: int = f(0, "linear warm-up length, in scheduler steps, chained before the scheduler (SequentialLR)")
    warmup_start_factor: float = f(0.1, "LR factor at the first warm-up step, in (0, 1]")
    monitor: str = f("val_loss", "metric ReduceLROnPlateau watches")
    swa: bool = f(False, "stochastic weight averaging (torch.optim.swa_utils) from swa_start")
    swa_start: int = f(0, "epoch from which SWA averages weights and SWALR sets the LR")
    swa_lr: float = f(0.0, "SWALR's LR (0: the optimizer's LR)")
    swa_anneal_epochs: int = f(10, "epochs SWALR takes to anneal to swa_lr")
    params: dict = f({}, "parameters of the scheduler")

    @classmethod
    def entry_for(cls, name: str, where: str):
        if name == "":
            return Entry("", None, (), "constant learning rate")
        return super().entry_for(name, where)

    def validate(self, where: str = "") -> None:
        if self.warmup < 0:
            raise SpecError(f"must be >= 0, got {self.warmup}", _join(where, "warmup"))
        if not 0 < self.warmup_start_factor <= 1:
            raise SpecError(f"must be in (0, 1], got {self.warmup_start_factor:g}", _join(where, "warmup_start_factor"))
        if self.swa_anneal_epochs < 1:
            raise SpecError(f"must be >= 1, got {self.swa_anneal_epochs}", _join(where, "swa_anneal_epochs"))
        if self.swa_start < 0 or self.swa_lr < 0:
            bad = "swa_start" if self.swa_start < 0 else "swa_lr"
            raise SpecError(f"must be >= 0, got {getattr(self, bad):g}", _join(where, bad))
        ms = self.params.get("milestones")
        if self.type == "MultiStepLR" and ms is not None and any(b <= a for a, b in zip(ms, ms[1:])):
            raise SpecError(f"milestones must be strictly increasing, got {ms}", _join(where, "milestones"),
                            f"use {sorted(set(ms))}")

    @property
    def per_step(self) -> bool:
        if self.interval != "auto":
            return self.interval == "step"
        return bool(self.type) and "per_step" in self.entry().tags


# -- loop ----------------------------------------------------------------------------------------
@dataclass
class LoopSpec(SpecBase):
    epochs: int = f(3, "passes over the training set")
    loss: str = f("CrossEntropyLoss", "loss name (see nbtrain.spec.catalog.LOSSES)")
    loss_params: dict = f({}, "parameters of the loss")
    metrics: list[str] = f(["accuracy"], "metrics: accuracy, topk_accuracy, mae")
    topk: int = f(5, "k of topk_accuracy")
    device: str = f("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, mps")
    amp: str = f("off", "mixed precision: off, bf16, fp16 (with GradScaler)", choices=("off", "bf16", "fp16"))
    grad_clip: float = f(0.0, "clip the gradient norm to this value (0: off)")
    seed: int = f(0, "seed of python, numpy and torch for the run")
    log_every: int = f(20, "read losses from the device and log every N steps")
    logdir: str = f("runs", "TensorBoard log directory (empty: no TensorBoard)")
    run_name: str = f("", "subfolder of logdir for this run (empty: a timestamp)")
    histograms: bool = f(True, "log weight and gradient histograms each epoch")
    feature_maps: bool = f(True, "log feature-map and conv-kernel grids each epoch")
    checkpoint_dir: str = f("checkpoints", "where checkpoints go (empty: none)")
    keep_last: int = f(2, "how many recent checkpoints to keep (the best is kept too)")
    monitor: str = f("val_loss", "metric for the best checkpoint and early stopping")
    mode: str = f("auto", "auto, min or max: whether lower or higher monitor is better (auto: the metric's own, "
                          "max for accuracies, min for losses)", choices=("auto", "min", "max"))
    early_stopping: int = f(0, "patience in epochs (0: off)")
    min_delta: float = f(0.0, "smallest change of monitor that counts as improvement")
    restore_best: bool = f(True, "early stopping restores the best weights")

    def validate(self, where: str = "") -> None:
        for name, low in (("epochs", 1), ("log_every", 1), ("topk", 1), ("keep_last", 0), ("early_stopping", 0)):
            v = getattr(self, name)
            if v < low:
                raise SpecError(f"must be >= {low}, got {v}", _join(where, name))
        for name in ("grad_clip", "min_delta"):
            if getattr(self, name) < 0:
                raise SpecError(f"must be >= 0, got {getattr(self, name):g}", _join(where, name))
        e = LOSSES.get_entry(self.loss, _join(where, "loss"))
        self.loss_params = e.check_params(self.loss_params, _join(where, "loss_params"))
        for i, m in enumerate(self.metrics):
            METRICS.get_entry(m, _join(where, f"metrics[{i}]"))


@dataclass
class TrainSpec(SpecBase):
    data: DataSpec = f(DataSpec(), "dataset, transforms and loaders")
    model: ModelSpec = f(ModelSpec(), "the layers of the model")
    optim: OptimSpec = f(OptimSpec(), "optimizer and its param groups")
    sched: SchedSpec = f(SchedSpec(), "learning-rate schedule")
    loop: LoopSpec = f(LoopSpec(), "training loop settings")

    @classmethod
    def default(cls) -> "TrainSpec":
        """A small CNN for 1x28x28 digits (scikit-learn's, resized), 10 classes."""
        L = LayerSpec
        return cls(
            data=DataSpec(dataset="digits",
                          train_transforms=[TransformSpec("ToTensor"),
                                            TransformSpec("Normalize", {"mean": [0.3051], "std": [0.3244]})],
                          val_transforms=[TransformSpec("ToTensor"),
                                          TransformSpec("Normalize", {"mean": [0.3051], "std": [0.3244]})]),
            model=ModelSpec(layers=[
                L("Conv2d", params={"out_channels": 8, "kernel_size": 3, "padding": 1}), L("ReLU"),
                L("MaxPool2d", params={"kernel_size": 2}),
                L("Conv2d", params={"out_channels": 16, "kernel_size": 3, "padding": 1}), L("ReLU"),
                L("MaxPool2d", params={"kernel_size": 2}),
                L("Flatten"), L("Linear", params={"out_features": 64}), L("ReLU"),
                L("Linear", params={"out_features": 10}),
            ]),
            optim=OptimSpec("Adam", lr=1e-3),
            sched=SchedSpec(),
            loop=LoopSpec(epochs=3),
        )
