"""Bad data and bad models, from small scripts (nb.fit) and the CLI: each must be one clear message (Deliver 5, 4)."""
from __future__ import annotations

import os

import numpy as np
from faultsweep_cases.common import Fail, clear_error, cli, run, script_error, script_warns

FIT = "nbtrain.fit(model=nn.Linear(4, 3), train={train}, val={val}, epochs=2, progress=False{extra})"
NAN_CASES = {   # name -> (lines before the fit, train, val, words the error must say)
    "nan-train-tensors": ("x, y = xy(); x[40, 2] = float('nan')", "(x, y)", "None", ("NaN", "sample 40")),
    "inf-train-tensors": ("x, y = xy(); x[3, 0] = -float('inf')", "(x, y)", "None", ("inf", "sample 3")),
    "nan-val-tensors": ("x, y = xy(); xv, yv = xy(seed=1); xv[9, 1] = float('nan')", "(x, y)", "(xv, yv)",
                        ("val", "sample 9")),
    "inf-val-tensors": ("x, y = xy(); xv, yv = xy(seed=1); xv[0, 0] = float('inf')", "(x, y)", "(xv, yv)",
                        ("val", "inf")),
    "label-10-in-val-tensors": ("x, y = xy(); yv = y.clone(); yv[50] = 10", "(x, y)", "(x, yv)",
                                ("class 10", "sample 50")),
    "label-minus1-train-tensors": ("x, y = xy(); y[7] = -1", "(x, y)", "None", ("-1", "sample 7")),
    "label-3-after-first-batch": ("x, y = xy(); y[63] = 3", "(x, y)", "None", ("class 3",)),
    "label-10-in-val-loader": ("from torch.utils.data import DataLoader, TensorDataset\nx, y = xy(); yv = y.clone(); "
                               "yv[50] = 10; v = DataLoader(TensorDataset(x, yv), batch_size=16)", "(x, y)", "v",
                               ("label", "out_features")),
    "label-10-in-train-loader": ("from torch.utils.data import DataLoader, TensorDataset\nx, y = xy(); y[40] = 10; "
                                 "t = DataLoader(TensorDataset(x, y), batch_size=16)", "t", "None",
                                 ("label", "out_features")),
}


def _body(pre: str, train: str, val: str, extra: str = "") -> str:
    lines = "\n    ".join(pre.split("\n"))
    return f"def main():\n    {lines}\n    h = " + FIT.format(train=train, val=val, extra=extra) + \
        "\n    return {'status': h.status, 'epochs': h.epochs}\n"


def nan_case(ctx, name: str) -> str:
    pre, train, val, says = NAN_CASES[name]
    return script_error(ctx, _body(pre, train, val), says)


def nan_in_val_loader(ctx) -> str:
    body = _body("from torch.utils.data import DataLoader, TensorDataset\nx, y = xy(); xv, yv = xy(seed=1); "
                 "xv[5, 0] = float('nan'); v = DataLoader(TensorDataset(xv, yv), batch_size=16)", "(x, y)", "v",
                 ", doctor=False")
    return script_warns(ctx, body, ("validation loss is nan",))


def nan_in_train_loader(ctx) -> str:
    body = _body("from torch.utils.data import DataLoader, TensorDataset\nx, y = xy(); x[20, 0] = float('nan'); "
                 "t = DataLoader(TensorDataset(x, y), batch_size=16)", "t", "None")
    return script_warns(ctx, body, ("nan",))


def adam_lr_1000(ctx) -> str:
    body = ("def main():\n    g = torch.Generator().manual_seed(0); x = torch.randn(256, 4, generator=g)\n"
            "    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()\n"
            "    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))\n"
            "    h = nbtrain.fit(model=m, train=(x, y), optimizer=torch.optim.Adam(m.parameters(), lr=1000.0), "
            "epochs=2, log_every=2, progress=False)\n    return {'status': h.status}\n")
    return script_warns(ctx, body, ("learning rate",))


MODELS = {   # name -> (the model expression, words the error must say)
    "forward-returns-tuple": ("class M(nn.Module):\n        def __init__(self):\n            super().__init__(); "
                              "self.l = nn.Linear(4, 3)\n        def forward(self, x):\n            return self.l(x), x"
                              "\n    m = M()", ("tuple",)),
    "meta-device-model": ("m = nn.Linear(4, 3, device='meta')", ("meta",)),
    "no-parameters": ("m = nn.Identity()", ()),
    "wrong-out-features": ("m = nn.Linear(4, 2)", ("out_features",)),
    "wrong-in-features": ("m = nn.Linear(5, 3)", ()),
}


def model_case(ctx, name: str) -> str:
    expr, says = MODELS[name]
    body = (f"def main():\n    {expr}\n    x, y = xy()\n    h = nbtrain.fit(model=m, train=(x, y), epochs=1, "
            "progress=False)\n    return {'status': h.status}\n")
    return script_error(ctx, body, says)


def _image_folder(root, classes: dict) -> None:
    from PIL import Image
    for cls, n in classes.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8, 3), 30 * i, dtype=np.uint8)).save(root / cls / f"{i}.png")


def _folder_spec(ctx, path) -> str:
    import json
    spec = json.loads(ctx.refs.spec("plain").read_text())
    spec["data"].update(dataset="image_folder", path=str(path), batch_size=4, val_split=0.25, image_size=8)
    spec["data"]["train_transforms"] = spec["data"]["val_transforms"] = [{"type": "Grayscale"}, {"type": "ToTensor"}]
    out = ctx.dir / "spec.json"
    out.write_text(json.dumps(spec))
    return str(out)


def folder_case(ctx, kind: str) -> str:
    root = ctx.dir / "imgs"
    says: tuple = ()
    if kind == "symlink-loop":
        _image_folder(root, {"cat": 4, "dog": 4})
        os.symlink(root, root / "cat" / "again")
        says = ("again",)
    elif kind == "empty-folder":
        root.mkdir()
    elif kind == "empty-class-folders":
        (root / "cat").mkdir(parents=True)
        (root / "dog").mkdir()
    elif kind == "no-images-only-text":
        (root / "cat").mkdir(parents=True)
        (root / "cat" / "a.txt").write_text("not an image")
    elif kind == "missing-folder":
        says = ("imgs",)
    elif kind == "corrupt-image":
        _image_folder(root, {"cat": 4, "dog": 4})
        (root / "dog" / "9.png").write_bytes(b"\x89PNG not really")
    rc, out = run(cli(_folder_spec(ctx, root), "--logdir", "", "--checkpoint-dir", "", "--epochs", "1"), ctx.dir,
                  "run")
    if kind == "corrupt-image" and rc == 0:
        raise Fail("SILENT: a corrupt image was read without a word")
    return clear_error(rc, out, f"an image folder ({kind})", says)


CSV = {   # name -> (rows of a 3-feature, 1-target CSV with a header, words the error must say)
    "csv-nan-cell": ("a,b,c,y\n" + "".join(f"{i},{i % 5},{'nan' if i == 17 else i % 3},{i % 2}\n" for i in range(60)),
                     ("NaN",)),
    "csv-inf-cell": ("a,b,c,y\n" + "".join(f"{i},{'inf' if i == 55 else i % 5},1,{i % 2}\n" for i in range(60)),
                     ("inf",)),
    "csv-empty-cell": ("a,b,c,y\n" + "".join(f"{i},{'' if i == 5 else i % 5},1,{i % 2}\n" for i in range(60)), ()),
    "csv-header-only": ("a,b,c,y\n", ()),
    "csv-empty-file": ("", ()),
    "csv-text-in-numbers": ("a,b,c,y\n" + "".join(f"{i},{'x' if i == 9 else i},1,{i % 2}\n" for i in range(60)), ()),
}


def csv_case(ctx, name: str) -> str:
    import json
    rows, says = CSV[name]
    (ctx.dir / "d.csv").write_text(rows)
    spec = {"data": {"dataset": "csv", "path": str(ctx.dir / "d.csv"), "target": "y", "batch_size": 8},
            "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                                 {"type": "Linear", "out_features": 2}]},
            "loop": {"epochs": 1, "logdir": "", "checkpoint_dir": ""}}
    (ctx.dir / "spec.json").write_text(json.dumps(spec))
    rc, out = run(cli(ctx.dir / "spec.json"), ctx.dir, "run")
    return clear_error(rc, out, f"a CSV ({name})", says)
