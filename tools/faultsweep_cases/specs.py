"""The sweep's tiny specs: 8x8 digits, a one-conv model, 3 epochs of 23 batches (about a second of training)."""
from __future__ import annotations

from pathlib import Path

EPOCHS = 3


def small_spec(epochs: int = 2, sched=None, **loop):
    """Digits at their native 8x8, a one-conv model with dropout: about a second per run (the tests' spec too:
    tests/test_loop_spec.py imports it from here)."""
    from nbtrain.spec import LayerSpec, ModelSpec, SchedSpec, TrainSpec
    spec = TrainSpec.default()
    spec.data.image_size = 0
    spec.data.train_transforms, spec.data.val_transforms = [], []
    spec.model = ModelSpec(layers=[
        LayerSpec("Conv2d", params={"out_channels": 4, "kernel_size": 3, "padding": 1}), LayerSpec("ReLU"),
        LayerSpec("Flatten"), LayerSpec("Dropout", params={"p": 0.2}), LayerSpec("Linear", params={"out_features": 10})])
    spec.optim.lr = 0.01
    if sched is not None:
        spec.sched = SchedSpec.from_dict(sched)
    spec.loop.epochs = epochs
    spec.loop.logdir = spec.loop.checkpoint_dir = ""
    for k, v in loop.items():
        setattr(spec.loop, k, v)
    return TrainSpec.from_dict(spec.to_dict())


def base(epochs: int = EPOCHS, **loop):
    return small_spec(epochs, **{"log_every": 4, **loop})


def _scheduled(swa: bool):
    from nbtrain.spec import LayerSpec, SchedSpec
    spec = base(amp="bf16", early_stopping=5, monitor="val_loss")
    spec.model.layers.insert(1, LayerSpec("BatchNorm2d"))
    spec.sched = SchedSpec.from_dict({"type": "StepLR", "step_size": 1, "gamma": 0.5, "swa": swa, "swa_start": 1})
    return spec


def _onecycle():
    from nbtrain.spec import SchedSpec
    spec = base()
    spec.sched = SchedSpec.from_dict({"type": "OneCycleLR", "max_lr": 0.02})
    return spec


def _tanh():
    from nbtrain.spec import LayerSpec
    spec = base()
    spec.model.layers[1] = LayerSpec("Tanh")
    return spec


def _batch(n: int):
    spec = base()
    spec.data.batch_size = n
    return spec


VARIANTS = {
    "plain": base,                                          # Adam, no schedule
    "sched": lambda: _scheduled(False),                     # BatchNorm, StepLR, bf16 autocast on CPU, early stopping
    "swa": lambda: _scheduled(True),                        # the same with SWA from epoch 2 (update_bn at the end)
    "es": lambda: base(epochs=4, early_stopping=1, min_delta=10.0, monitor="val_loss"),  # stops after epoch 2
    "onecycle": _onecycle,                                  # a per-batch schedule
    "tanh": _tanh,                                          # plain's model with Tanh for ReLU
    "batch32": lambda: _batch(32),                          # plain with another batch size
    "epochs5": lambda: base(epochs=5),
}


def write_spec(variant: str, path: Path) -> Path:
    from nbtrain.spec import TrainSpec
    spec = TrainSpec.from_dict(VARIANTS[variant]().to_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    spec.save(path)
    return path
