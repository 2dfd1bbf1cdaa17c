"""nbtrain against the seeds' plain loop and its peers, each run in a fresh Jupyter kernel (issue 12).

Workload (the live-view issue's): scikit-learn's digits resized to 1x28x28 (bilinear), the first 1500 images
repeated 4 times (6000 training samples; the other 297 images validate), batch 64, the small CNN (Conv2d 1->16 k3
p1, ReLU, MaxPool2d 2, Conv2d 16->32 k3 p1, ReLU, MaxPool2d 2, Flatten, Linear 1568->128, ReLU, Linear 128->10),
SGD lr 0.05 momentum 0.9, 3 epochs. Figure: training samples/s over epochs 2-3 (from the start of epoch 2 to the
end of epoch 3, validation and each tool's epoch-end work included), each variant in a fresh kernel started by
nbclient, --rounds interleaved rounds (the order rotates each round), the median, and its ratio to its plain loop
measured in the same invocation: the median of the rounds' paired ratios (each round's variant over that round's
plain loop), with the ratio of the medians beside it.

Two more pairs (issue 25): the **MLP workload** (the same data and optimizer, the MLP Flatten, Linear 784->256, ReLU,
Linear 256->10, 8 epochs, epochs 2-8 measured: an epoch is ~0.1 s, so what a step costs beyond forward, backward and
step shows) as a plain loop and as ``fit(model, train=DataLoader)`` with the defaults (and with every sink off); and
**fit(spec)** on the built-in digits paired with the plain loop on the same samples (the spec's split: 1438 train /
359 val, its Normalize applied, in a DataLoader over tensors), the CNN above in both.

    PYTHONPATH=. .venv/bin/python benchmarks/peers.py [--rounds 3] [--threads default|1|both] [--only NAME ...]
                                                      [--json out.json]
    e.g. --only "fit(spec)" MLP: the fit(spec) pair and the MLP rows (each with its plain loop)

A peer that is not installed (pip install -e '.[bench]' installs them) gives a row "not installed".
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMON = '''
import json, time, warnings
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from sklearn.datasets import load_digits
if {threads}:
    torch.set_num_threads({threads})
MODEL = "{model}"
EPOCHS = 3 if MODEL == "cnn" else 8          # the MLP's epochs are ~0.1 s: more of them, for a steadier figure
_d = load_digits()
_X = nn.functional.interpolate(torch.tensor(_d.images, dtype=torch.float32)[:, None] / 16, size=(28, 28),
                               mode="bilinear", align_corners=False)
_Y = torch.tensor(_d.target, dtype=torch.int64)
x, y = _X[:1500].repeat(4, 1, 1, 1), _Y[:1500].repeat(4)
xv, yv = _X[1500:], _Y[1500:]

def make_model():
    torch.manual_seed(0)
    if MODEL == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))

def loaders():
    return (DataLoader(TensorDataset(x, y), 64, shuffle=True, generator=torch.Generator().manual_seed(0)),
            DataLoader(TensorDataset(xv, yv), 64))

def sgd(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)

class Clock:
    """Epoch boundaries: start(i) at each epoch's start, end(i) when its validation and epoch-end work are done."""
    def __init__(self, samples=len(x)):
        self.samples, self.starts, self.ends = samples, {{}}, {{}}
    def start(self, i):
        self.starts.setdefault(i, (time.perf_counter(), time.process_time()))
    def end(self, i):
        self.ends[i] = (time.perf_counter(), time.process_time())
    def result(self):
        (w0, c0), (w1, c1) = self.starts[1], self.ends[EPOCHS - 1]
        n = self.samples * (EPOCHS - 1)
        return {{"samples_per_s": n / (w1 - w0), "cpu_s": c1 - c0, "wall_s": w1 - w0,
                 "threads": torch.get_num_threads(), "samples_per_epoch": self.samples}}
CLOCK = Clock()
'''

# The samples fit(spec) trains and validates on (the spec's own digits split, its deterministic transforms applied),
# as plain tensors: the plain loop's data for the fit(spec) pair.
SPEC_DATA = '''
import nbtrain as nb
from nbtrain.build.data import build_data
_b = build_data(nb.TrainSpec.default().data)
def _all(loader):
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)
x, y = _all(_b.train)
xv, yv = _all(_b.val)
CLOCK.samples = len(x)
'''

PLAIN = '''
def plain(epoch_end=None):
    model, loss_fn = make_model(), nn.CrossEntropyLoss()
    opt = sgd(model.parameters())
    train, val = loaders()
    for epoch in range(EPOCHS):
        CLOCK.start(epoch)
        model.train()
        total = 0.0
        for xb, yb in train:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        model.eval()
        correct = vloss = 0
        with torch.no_grad():
            for xb, yb in val:
                out = model(xb)
                vloss += loss_fn(out, yb).item() * len(yb)
                correct += (out.argmax(1) == yb).sum().item()
        logs = {"loss": total / len(train), "val_loss": vloss / len(xv), "val_accuracy": correct / len(xv)}
        if epoch_end is None:
            print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        else:
            epoch_end(logs)
        CLOCK.end(epoch)
'''

NB_CLOCK = '''
import nbtrain as nb
class NbClock(nb.Callback):
    def on_epoch_start(self, state):
        CLOCK.start(state.epoch)
    def on_epoch_end(self, state, logs):
        CLOCK.end(state.epoch)
'''


def nb_parts(data: str, **kw) -> str:
    extra = "".join(f", {k}={v!r}" for k, v in kw.items())
    return NB_CLOCK + f'''
model = make_model()
train, val = {data}
nb.fit(model=model, train=train, val=val, optimizer=sgd(model.parameters()), epochs=EPOCHS,
       callbacks=[NbClock()]{extra})
'''


NB_SPEC = NB_CLOCK + '''
L = nb.LayerSpec
spec = nb.TrainSpec.default()
spec.model.layers = [L("Conv2d", params={"out_channels": 16, "kernel_size": 3, "padding": 1}), L("ReLU"),
                     L("MaxPool2d", params={"kernel_size": 2}),
                     L("Conv2d", params={"out_channels": 32, "kernel_size": 3, "padding": 1}), L("ReLU"),
                     L("MaxPool2d", params={"kernel_size": 2}), L("Flatten"),
                     L("Linear", params={"out_features": 128}), L("ReLU"), L("Linear", params={"out_features": 10})]
spec.optim = nb.OptimSpec(type="SGD", lr=0.05, params={"momentum": 0.9})
spec.loop.epochs = EPOCHS

class SpecClock(NbClock):
    def on_fit_start(self, state):
        CLOCK.samples = len(state.train_loader.sampler)
nb.fit(spec, callbacks=[SpecClock()])
'''

FASTAI = '''
from fastai.callback.core import Callback as FaCallback
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.optimizer import OptimWrapper
from functools import partial

class FaClock(FaCallback):
    order = 100                     # after the progress table's and the recorder's epoch-end work
    def before_epoch(self):
        CLOCK.start(self.epoch)
    def after_epoch(self):
        CLOCK.end(self.epoch)
train, val = loaders()
learn = Learner(DataLoaders(train, val, device="cpu"), make_model(), loss_func=nn.CrossEntropyLoss(),
                opt_func=partial(OptimWrapper, opt=torch.optim.SGD, momentum=0.9), lr=0.05, metrics=accuracy,
                cbs=FaClock())
learn.fit(EPOCHS, lr=0.05)
'''

LIVELOSSPLOT = PLAIN + '''
from livelossplot import PlotLosses
liveloss = PlotLosses()
def send(logs):
    liveloss.update(logs)
    liveloss.send()
plain(send)
'''

KERAS = '''
import os
os.environ["KERAS_BACKEND"] = "torch"
import keras
class KClock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        CLOCK.start(epoch)
    def on_epoch_end(self, epoch, logs=None):
        CLOCK.end(epoch)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                          keras.layers.MaxPooling2D(2), keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                          keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                          keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
to_hwc = lambda t: t.permute(0, 2, 3, 1).numpy()
model.fit(to_hwc(x), y.numpy(), batch_size=64, epochs=EPOCHS, validation_data=(to_hwc(xv), yv.numpy()),
          callbacks=[KClock()])
'''

LIGHTNING = '''
import lightning as Lt
class Module(Lt.LightningModule):
    def __init__(self):
        super().__init__()
        self.net, self.loss_fn = make_model(), nn.CrossEntropyLoss()
    def training_step(self, batch, i):
        loss = self.loss_fn(self.net(batch[0]), batch[1])
        self.log("loss", loss, prog_bar=True)
        return loss
    def validation_step(self, batch, i):
        out = self.net(batch[0])
        self.log("val_loss", self.loss_fn(out, batch[1]), prog_bar=True)
        self.log("val_accuracy", (out.argmax(1) == batch[1]).float().mean(), prog_bar=True)
    def configure_optimizers(self):
        return sgd(self.parameters())
class LClock(Lt.Callback):
    def on_train_epoch_start(self, trainer, module):
        CLOCK.start(trainer.current_epoch)
    def on_train_epoch_end(self, trainer, module):       # after the epoch's validation in Lightning 2
        CLOCK.end(trainer.current_epoch)
train, val = loaders()
Lt.Trainer(max_epochs=EPOCHS, accelerator="cpu", devices=1, callbacks=[LClock()]).fit(Module(), train, val)
'''

PLAIN_CODE = PLAIN + "plain()\n"
SPEC_NAME = "nbtrain fit(spec), fast path, defaults (TensorBoard, checkpoints)"
SPEC_PLAIN = "plain loop on fit(spec)'s digits split (its 1438 train / 359 val samples, DataLoader)"
MLP_PLAIN = "plain loop, MLP 784-256-10"

# name -> (the module it needs, the code of the run); the order of the table
VARIANTS = {
    "plain loop (seeds: DataLoader, loss.item() per step, no_grad validation)": (None, PLAIN_CODE),
    "nbtrain fit(model, train=DataLoader), defaults": ("nbtrain", nb_parts("loaders()")),
    "nbtrain fit(model, train=DataLoader), defaults + TensorBoard": ("nbtrain", nb_parts("loaders()", logdir="runs")),
    "nbtrain fit(model, train=DataLoader), every sink off": (
        "nbtrain", nb_parts("loaders()", dashboard=False, progress=False, doctor=False)),
    "nbtrain fit(model, train=(x, y)) tensors, fast path, defaults": ("nbtrain", nb_parts("(x, y), (xv, yv)")),
    SPEC_PLAIN: ("nbtrain", SPEC_DATA + PLAIN_CODE),
    SPEC_NAME: ("nbtrain", NB_SPEC),
    MLP_PLAIN: (None, PLAIN_CODE),
    "nbtrain fit(model, train=DataLoader), defaults, MLP 784-256-10": ("nbtrain", nb_parts("loaders()")),
    "nbtrain fit(model, train=DataLoader), every sink off, MLP 784-256-10": (
        "nbtrain", nb_parts("loaders()", dashboard=False, progress=False, doctor=False)),
    "fastai Learner.fit (notebook progress table)": ("fastai", FASTAI),
    "livelossplot (plain loop + PlotLosses.send per epoch)": ("livelossplot", LIVELOSSPLOT),
    "Keras 3 (torch backend) model.fit": ("keras", KERAS),
    "Lightning Trainer.fit (defaults)": ("lightning", LIGHTNING),
}
PLAIN_NAME = next(iter(VARIANTS))
MLP = [n for n in VARIANTS if "MLP" in n]          # these train the MLP (8 epochs); the others the small CNN


def baseline(name: str) -> str:
    """The plain loop a variant is compared with: the same model on the same samples (a plain loop: itself)."""
    if name in (PLAIN_NAME, SPEC_PLAIN, MLP_PLAIN):
        return name
    if name in MLP:
        return MLP_PLAIN
    return SPEC_PLAIN if name == SPEC_NAME else PLAIN_NAME


def installed(module: str | None) -> bool:
    return module is None or importlib.util.find_spec(module) is not None


def run_in_kernel(code: str, threads: int, timeout: int = 1200, model: str = "cnn", root: Path = ROOT) -> dict:
    """Run COMMON + ``code`` in a new kernel (cwd: a fresh temporary folder) that imports nbtrain from the checkout
    ``root`` (this one unless benchmarks/ab_trees.py says another); the Clock's result."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(COMMON.format(threads=threads, model=model)), nbformat.v4.new_code_cell(code),
                nbformat.v4.new_code_cell("print('RESULT ' + json.dumps(CLOCK.result()))")]
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}   # the kernel's own (inline) backend
    env.update(PYTHONPATH=str(root) + os.pathsep + env.get("PYTHONPATH", ""), KERAS_BACKEND="torch",
               PYTHONWARNINGS="ignore")
    with tempfile.TemporaryDirectory(prefix="nbtrain-peers-") as cwd:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": cwd}}).execute(env=env)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o["output_type"] == "stream")
    return json.loads(text.split("RESULT ", 1)[1])


def measure(names: list[str], rounds: int, threads: int, log=print) -> dict:
    """{name: [result per round]}; the order rotates each round so no variant always runs first."""
    out: dict = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t = time.perf_counter()
            try:
                res = run_in_kernel(VARIANTS[n][1], threads, model="mlp" if n in MLP else "cnn")
            except Exception as e:  # one failing peer must not lose the other figures
                res = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[-1][:300] if str(e).strip() else ''}"}
            res["load"] = os.getloadavg()[0]      # runnable threads on the machine (1 min): how busy it was
            out[n].append(res)
            shown = f"{res['samples_per_s']:.0f} samples/s" if "samples_per_s" in res else res["error"]
            log(f"  round {r + 1}/{rounds} threads={threads or 'default'} {n}: {shown} "
                f"({time.perf_counter() - t:.0f} s with kernel start)")
    return out


def paired(rs: list, base: list) -> list:
    """Each round's samples/s over its plain loop's in the same round (both measured)."""
    return [r["samples_per_s"] / b["samples_per_s"] for r, b in zip(rs, base)
            if "samples_per_s" in r and "samples_per_s" in b]


def table(results: dict, names: list[str], threads: int, rounds: int) -> str:
    """A Markdown table: median samples/s, each run's figure, CPU s of the kernel process, the ratio to its plain loop
    (the same model on the same samples): the median of the per-round (paired) ratios, each round's, and the ratio
    of the medians."""
    def med(rs, key):
        v = [r[key] for r in rs if key in r]
        return statistics.median(v) if v else None
    tthreads = next((r["threads"] for rs in results.values() for r in rs if "threads" in r), "?")
    lines = [f"torch threads: {threads or 'default'} ({tthreads}); median of {rounds} run(s), each in a fresh kernel; "
             "'vs its plain loop': the median of each round's paired ratio (the rounds' ratios; the ratio of the "
             "medians)", "",
             "| variant | samples/s (median) | runs | kernel CPU s, epochs 2-E | load avg | vs its plain loop |",
             "|---|---:|---|---:|---:|---:|"]
    for n in names:
        rs = results.get(n)
        if rs is None:
            lines.append(f"| {n} | not installed | | | | |")
            continue
        sps = med(rs, "samples_per_s")
        if sps is None:
            lines.append(f"| {n} | failed: {rs[0].get('error', '?')} | | | | |")
            continue
        runs = " / ".join(f"{r['samples_per_s']:.0f}" if "samples_per_s" in r else "failed" for r in rs)
        base = results.get(baseline(n), [])
        pairs, plain = paired(rs, base), med(base, "samples_per_s")
        ratio = "-" if not pairs or n == baseline(n) else (
            f"**{statistics.median(pairs):.2f}** ({' / '.join(f'{p:.2f}' for p in pairs)}; {sps / plain:.2f})")
        lines.append(f"| {n} | {sps:.0f} | {runs} | {med(rs, 'cpu_s'):.2f} | {med(rs, 'load'):.1f} | {ratio} |")
    spec = results.get(SPEC_NAME)
    if spec and any("samples_per_epoch" in r for r in spec):
        n = next(r["samples_per_epoch"] for r in spec if "samples_per_epoch" in r)
        lines += ["", f"fit(spec) trains on the spec's own digits split: {n} samples an epoch (not 6000); its plain "
                  "loop trains on the same samples. The MLP rows train 8 epochs (epochs 2-8 measured)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="both", choices=("default", "1", "both"),
                    help="torch's default thread count, 1 thread, or both (default)")
    ap.add_argument("--only", nargs="*", default=None,
                    help="variants whose name contains any of these words (each one's plain loop always runs)")
    ap.add_argument("--json", help="also write every run's figures to this file")
    args = ap.parse_args(argv)
    chosen = [n for n in VARIANTS if args.only is None or any(w.lower() in n.lower() for w in args.only)]
    names = [n for n in VARIANTS if n in chosen or any(baseline(c) == n for c in chosen)]
    runnable = [n for n in names if installed(VARIANTS[n][0])]
    settings = {"default": [0], "1": [1], "both": [0, 1]}[args.threads]
    report: dict = {}
    for threads in settings:
        print(f"threads={threads or 'default'}: {len(runnable)} variant(s) x {args.rounds} round(s)", flush=True)
        res = measure(runnable, args.rounds, threads, log=lambda s: print(s, flush=True))
        report[threads or "default"] = res
        print("\n" + table(res, names, threads, args.rounds) + "\n", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
