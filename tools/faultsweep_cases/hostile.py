"""Hostile spec files through `nbtrain run` (Deliver 3: one clear error, never a hang) and hostile text in every
field that reaches the exported script (`nb.to_code` runs none of it; the script is a benign spec's, strings aside)."""
from __future__ import annotations

import json

from faultsweep_cases.common import Fail, check_no_traceback, clear_error, cli, run, says_fix, script, tail

HUGE_TIMEOUT = 90.0


def _plain(ctx) -> dict:
    return json.loads(ctx.refs.spec("plain").read_text())


def _layers(n: int, layer: dict) -> dict:
    return {"layers": [layer] * n}


SPECS = {   # name -> (a change of the plain spec, or the file's text; words the error must say)
    "550k-relu-layers": (lambda s: s.update(model=_layers(550_000, {"type": "ReLU"})), ("layers",)),
    "200k-linear-layers": (lambda s: s.update(model=_layers(200_000, {"type": "Linear", "out_features": 64})),
                           ("layers",)),
    "linear-1e9-features": (lambda s: s["model"]["layers"][-1].update(out_features=1_000_000_000), ()),
    "conv-4096-kernel": (lambda s: s["model"]["layers"][0].update(kernel_size=4096), ()),
    "batch-size-0": (lambda s: s["data"].update(batch_size=0), ("batch_size",)),
    "batch-size-1e12": (lambda s: s["data"].update(batch_size=10 ** 12), ("batch_size",)),
    "epochs-minus-1": (lambda s: s["loop"].update(epochs=-1), ("epochs",)),
    "epochs-text": (lambda s: s["loop"].update(epochs="3"), ("epochs",)),
    "lr-1e308": (lambda s: s["optim"].update(lr=1e308), ("lr",)),
    "lr-negative": (lambda s: s["optim"].update(lr=-0.1), ("lr",)),
    "unknown-layer-type": (lambda s: s["model"]["layers"].append({"type": "os.system"}), ("os.system",)),
    "unknown-optimizer": (lambda s: s["optim"].update(type="__import__('os')"), ("optim",)),
    "unknown-loss": (lambda s: s["loop"].update(loss="eval"), ("loss",)),
    "layer-named-forward": (lambda s: [ly.update(name=n) for ly, n in zip(s["model"]["layers"], ["c", "forward", "f",
                                                                                                  "d", "out"])],
                            ("forward",)),
    "layer-param-wrong-type": (lambda s: s["model"]["layers"][0].update(out_channels="4; rm -rf /"),
                               ("out_channels",)),
    "unknown-top-level-key": (lambda s: s.update(__class__={"x": 1}), ()),
    "image-size-1e6": (lambda s: s["data"].update(image_size=1_000_000), ("image_size",)),
    "dataset-size-1e12": (lambda s: s["data"].update(size=10 ** 12), ()),
    "spec-is-a-list": ("[1, 2, 3]", ()),
    "spec-is-empty": ("", ()),
    "deep-nesting": ('{"data": ' + "[" * 50_000 + "]" * 50_000 + "}", ("deep",)),
    "5000-digit-int": (lambda s: s["loop"].update(epochs="<BIG>"), ()),
    "nan-literal": (lambda s: s["optim"].update(lr="<NAN>"), ()),
    "11mb-file": ("<11MB>", ()),
}


MAY_RUN = {"batch-size-1e12", "dataset-size-1e12"}     # a batch above the data's size is one batch; digits has no size


def spec_case(ctx, name: str) -> str:
    change, says = SPECS[name]
    if isinstance(change, str):
        text = " " * 11_000_000 + "{}" if change == "<11MB>" else change
    else:
        spec = _plain(ctx)
        change(spec)
        text = json.dumps(spec).replace('"<BIG>"', "7" * 5000).replace('"<NAN>"', "NaN")
    path = ctx.dir / "hostile.json"
    path.write_text(text)
    ctx.note(f"spec file {len(text.encode()) / 1e6:.1f} MB")
    rc, out = run(cli(path, "--logdir", "", "--checkpoint-dir", "", "--epochs", "1"), ctx.dir, "run",
                  timeout=HUGE_TIMEOUT)
    if rc == 0 and name in MAY_RUN:     # legal values: the run must only end, neither hang nor blow up
        check_no_traceback(out, name)
        return "ran to the end (a legal value)"
    if rc == 0 and name in ("linear-1e9-features", "conv-4096-kernel", "unknown-top-level-key"):
        raise Fail(f"SILENT: the spec ({name}) trained without a word:\n{tail(out)}")
    return clear_error(rc, out, f"a hostile spec ({name})", says)


H = {"docstring": 'x"""\nimport os; os.system("touch PWNED")\n"""',
     "quote": "'; __import__('os').system('touch PWNED') #",
     "newline": "m'\nopen('PWNED', 'w')#\\\r\t",
     "fstring": "{__import__('os').system('touch PWNED')}"}
FIELDS = ["data.path", "data.target", "data.features", "layer.name", "group.pattern", "sched.monitor", "loop.logdir",
          "loop.run_name", "loop.checkpoint_dir", "loop.monitor", "data.root", "sched.expr"]
EXPORT = '''
import ast, os
from nbtrain.codegen import to_code
from nbtrain.spec import DataSpec, LayerSpec, ModelSpec, OptimSpec, ParamGroupSpec, SchedSpec, TrainSpec
FIELD, HOSTILE = {field!r}, {hostile!r}


def spec(v):
    s = dict(path="d/t.csv", target="y", features=["a", "b", "c"], name="c", pattern="c", smon="val_loss",
             logdir="runs", run_name="r", ckdir="ck", monitor="val_loss", root="data", expr="0.9 ** epoch")
    key = dict(zip({fields!r}, ["path", "target", "features", "name", "pattern", "smon", "logdir", "run_name",
                                "ckdir", "monitor", "root", "expr"]))[FIELD]
    s[key] = [v, "b", "c"] if key == "features" else v
    data = DataSpec(dataset="csv", path=s["path"], root=s["root"], header=True, target=s["target"],
                    features=s["features"], batch_size=8)
    model = ModelSpec(layers=[LayerSpec("Linear", name=s["name"], params={{"out_features": 4}}), LayerSpec("ReLU", name="act"),
                              LayerSpec("Linear", name="out", params={{"out_features": 2}})])
    t = TrainSpec(data=data, model=model, optim=OptimSpec("SGD", lr=0.1, groups=[ParamGroupSpec(s["pattern"],
                                                                                                lr=0.05)]),
                  sched=SchedSpec("LambdaLR", params={{"expr": s["expr"]}}, monitor=s["smon"]))
    t.loop.epochs, t.loop.logdir, t.loop.run_name, t.loop.checkpoint_dir = 1, s["logdir"], s["run_name"], s["ckdir"]
    t.loop.monitor = s["monitor"]
    return TrainSpec.from_dict(t.to_dict())


def shape(code):
    tree = ast.parse(code)
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            n.value = ""
    return ast.dump(tree)


def main():
    benign = to_code(spec("benign"), input_shape=(3,), steps_per_epoch=4)
    code = to_code(spec(HOSTILE), input_shape=(3,), steps_per_epoch=4)
    consts = {{n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}}
    used = any(HOSTILE in c for c in consts)
    return {{"same_shape": shape(code) == shape(benign), "same_text": code == benign, "used": used,
            "pwned": os.path.exists("PWNED")}}
'''


def export_case(ctx, field: str, hostile: str) -> str:
    body = EXPORT.format(field=field, hostile=H[hostile], fields=FIELDS)
    rc, out, got = script(ctx, body)
    check_no_traceback(out, "nb.to_code")
    if (ctx.dir / "PWNED").exists():
        raise Fail(f"CODE RAN: exporting {field} = {hostile!r} text wrote PWNED")
    if got["kind"] == "CASE-ERROR":
        if not says_fix(got["msg"]):
            raise Fail(f"UNCLEAR ERROR: {got['msg']}")
        return f"refused: {got['msg'][:160]}"
    if got["kind"] != "CASE-RESULT":
        raise Fail(f"to_code ended without a result (exit {rc}):\n{tail(out)}")
    r = got["result"]
    if not r["same_shape"]:
        raise Fail(f"INJECTED: {field} = {hostile} text changed the script's code (not only its strings)")
    if not r["used"] and not r["same_text"]:
        raise Fail(f"the script differs from the benign spec's although {field}'s text is not in it")
    return "exported as data only" + (" (text used as a string)" if r["used"] else " (field not used: same script)")


def benign_spec_said_hostile(ctx) -> str:
    """The harness's own check (expected FAIL): a valid spec given where a clear error is expected trains, and the
    classifier must call that a FAIL."""
    path = ctx.dir / "benign.json"
    path.write_text(ctx.refs.spec("plain").read_text())
    rc, out = run(cli(path, "--logdir", "", "--checkpoint-dir", "", "--epochs", "1"), ctx.dir, "run")
    return clear_error(rc, out, "a benign spec (the harness's self-check)")


def sleeper(ctx) -> str:
    """The harness's own check (expected FAIL): a process that never ends is a HANG, killed at its timeout."""
    from faultsweep_cases.common import PY
    rc, out = run([PY, "-c", "import time; time.sleep(60)"], ctx.dir, "sleeper", timeout=2.0)
    return f"exit {rc}"
