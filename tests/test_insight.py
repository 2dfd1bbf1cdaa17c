"""What the model gets wrong: the confusion matrix, per-class metrics and worst samples validation collects on the
device (nbtrain.train.valstats), checked against sklearn and an independent recomputation; TensorBoard read back."""
import io

import numpy as np
import pytest
import torch
from loop_fixtures import tiny_cnn, tiny_data
from PIL import Image
from torch import nn

import nbtrain
from nbtrain import TrainSpec, build_data, build_model, insight, valstats
from nbtrain.errors import NbtrainError
from nbtrain.train.history import History
from nbtrain.train.metrics import Accumulator
from nbtrain.train.runfile import read_run
from nbtrain.train.valstats import ValStats, per_class

QUIET = dict(progress=False, dashboard=False, doctor=False)


@pytest.fixture(scope="module")
def digits_run():
    """One epoch of the default CNN on digits; the model, the History and the validation batches."""
    spec = TrainSpec.default()
    model = build_model(spec.model, (1, 28, 28))
    h = nbtrain.fit(spec, model=model, epochs=1, logdir="", checkpoint_dir="", **QUIET)
    return model, h, list(build_data(spec.data).val)


def _predictions(model, batches):
    model.eval()
    with torch.no_grad():
        outs = [(model(x), y) for x, y in batches]
    out, y = torch.cat([o for o, _ in outs]), torch.cat([t for _, t in outs])
    return out, y


def test_confusion_and_per_class_metrics_equal_sklearn_on_the_final_model(digits_run):
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
    model, h, batches = digits_run
    out, y = _predictions(model, batches)
    pred = out.argmax(1)
    labels = list(range(10))
    assert h.confusion[-1] == confusion_matrix(y.numpy(), pred.numpy(), labels=labels).tolist()
    assert len(h.confusion) == len(h.per_class) == 1 and h.class_names == [str(i) for i in labels]
    p, r, f, s = precision_recall_fscore_support(y.numpy(), pred.numpy(), labels=labels, zero_division=0)
    pc = h.per_class[-1]
    assert pc["precision"] == pytest.approx(p.tolist()) and pc["recall"] == pytest.approx(r.tolist())
    assert pc["f1"] == pytest.approx(f.tolist()) and pc["support"] == s.tolist()
    assert sum(map(sum, h.confusion[-1])) == 359 and h["val_accuracy"][-1] == pytest.approx(
        sum(h.confusion[-1][i][i] for i in labels) / 359)


def test_the_top_losses_are_the_largest_per_sample_losses(digits_run):
    model, h, batches = digits_run
    out, y = _predictions(model, batches)
    losses = nn.functional.cross_entropy(out, y, reduction="none")
    want = losses.topk(16)
    assert [r["index"] for r in h.top_losses] == want.indices.tolist()
    assert [r["loss"] for r in h.top_losses] == pytest.approx(want.values.tolist(), rel=1e-5)
    assert [r["true"] for r in h.top_losses] == y[want.indices].tolist()
    assert [r["pred"] for r in h.top_losses] == out.argmax(1)[want.indices].tolist()
    # nb.top_losses draws the samples from the run's own validation loader: the images the model saw
    xs = torch.cat([x for x, _ in batches])
    got = nbtrain.top_losses(h, 4)
    assert len(got) == 4 and got[0]["loss"] >= got[3]["loss"]
    for g in got:
        assert torch.equal(g["x"], xs[g["index"]]) and g["true_name"] == str(g["true"])
    fig = nbtrain.plot_top_losses(h, 4)
    axes = fig.get_axes()
    assert len(axes) == 4 and axes[0].get_title() == f"{got[0]['true_name']} / {got[0]['pred_name']}\n" \
                                                     f"{got[0]['loss']:.3g}"


def test_confused_pairs_most_first_with_names():
    h = History()
    h.record_validation({"confusion": [[5, 2, 0], [7, 1, 1], [0, 2, 9]], "top_losses": [], "class_names": list("abc")})
    assert h.confused_pairs(2) == [(1, 0, 7), (0, 1, 2)]
    assert h.confused_pairs(10, names=True) == [("b", "a", 7), ("a", "b", 2), ("c", "b", 2), ("b", "c", 1)]
    img = insight.confusion_image([[5, 2, 0], [7, 1, 1], [0, 2, 9]], size=30)
    assert img.shape == (3, 30, 30) and img[:, 5, 5].tolist() == [76, 106, 149]     # 5/7 of row 0: 5/7 of the way
    assert img[:, 0, 5].tolist() == [160] * 3 and img[:, 25, 5].tolist() == [247, 251, 255]   # a line; 0: white
    assert per_class([[0, 0], [3, 0]]) == {"precision": [0.0, 0.0], "recall": [0.0, 0.0], "f1": [0.0, 0.0],
                                           "support": [0, 3]}


def _no_host_reads(monkeypatch):
    calls = []

    def boom(name):
        def f(self, *a, **k):
            calls.append(name)
            raise AssertionError(f"update() read a tensor back to the host: Tensor.{name}")
        return f
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__", "nonzero"):
        monkeypatch.setattr(torch.Tensor, name, boom(name))
    return calls


def test_update_reads_nothing_back_to_the_host(monkeypatch):
    """Every value read or a boolean test of a tensor raises while update() runs: the matrix and the worst samples
    stay on the device until read()."""
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(32, 5, generator=g), torch.randint(0, 5, (32,), generator=g)) for _ in range(6)]
    monkeypatch.setattr(valstats, "FOLD_EVERY", 50)     # folds inside update() too: after batches 2, 4 and 6
    acc = Accumulator(["accuracy"], stats=ValStats("classification", nn.CrossEntropyLoss(), 5, k=8),
                      host=False)              # the path an accelerator takes (on the CPU the sums are plain numbers)
    calls = _no_host_reads(monkeypatch)
    for out, y in batches:
        acc.update(nn.functional.cross_entropy(out, y), out, y)
    folded = acc.stats.top is not None
    monkeypatch.undo()
    assert calls == [] and folded
    acc.read()
    out, y = torch.cat([o for o, _ in batches]), torch.cat([t for _, t in batches])
    from sklearn.metrics import confusion_matrix
    assert acc.collected["confusion"] == confusion_matrix(y, out.argmax(1), labels=range(5)).tolist()
    assert [r["index"] for r in acc.collected["top_losses"]] == \
        nn.functional.cross_entropy(out, y, reduction="none").topk(8).indices.tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA: torch's sync debug mode")
def test_on_cuda_update_never_synchronizes():
    dev = torch.device("cuda")
    stats = ValStats("classification", nn.CrossEntropyLoss(), 10, device=dev)
    bin_stats = ValStats("binary", nn.BCEWithLogitsLoss(), device=dev)
    out, y = torch.randn(256, 10, device=dev), torch.randint(0, 10, (256,), device=dev)
    ob, yb = torch.randn(256, 1, device=dev), torch.randint(0, 2, (256, 1), device=dev).float()
    stats.update(out, y)        # the first batch allocates
    bin_stats.update(ob, yb)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            stats.update(out, y)
            bin_stats.update(ob, yb)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert sum(map(sum, stats.read()["confusion"])) == 6 * 256


def test_targets_out_of_range_are_left_out_of_the_matrix():
    out = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, -100, 1, 1])                         # CrossEntropyLoss's ignore_index
    s = ValStats("classification", nn.CrossEntropyLoss(), 2, k=2)
    s.update(out, y)
    r = s.read()
    assert r["confusion"] == [[1, 0], [1, 1]] and [t["index"] for t in r["top_losses"]] == [2, 3]


def test_a_binary_logit_is_a_two_class_confusion_thresholded_at_zero():
    from sklearn.metrics import confusion_matrix
    g = torch.Generator().manual_seed(1)
    out, y = torch.randn(50, 1, generator=g), torch.randint(0, 2, (50, 1), generator=g).float()
    s = ValStats("binary", nn.BCEWithLogitsLoss(), k=3)
    s.update(out[:20], y[:20])
    s.update(out[20:], y[20:])
    r = s.read()
    assert r["confusion"] == confusion_matrix(y.flatten(), (out.flatten() > 0).long(), labels=[0, 1]).tolist()
    want = nn.functional.binary_cross_entropy_with_logits(out, y, reduction="none").flatten().topk(3)
    assert [t["index"] for t in r["top_losses"]] == want.indices.tolist()


def test_regression_keeps_true_and_predicted_values_and_plots_residuals():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g)
    y = x.sum(1, keepdim=True)
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    h = nbtrain.fit(model=model, train=(x[:150], y[:150]), val=(x[150:], y[150:]), loss="MSELoss", metrics=["mae"],
                    epochs=1, **QUIET)
    with torch.no_grad():
        pred = model(x[150:]).flatten()
    assert h.residuals["true"] == pytest.approx(y[150:].flatten().tolist())
    assert h.residuals["pred"] == pytest.approx(pred.tolist(), rel=1e-5)
    assert h.confusion == [] and h.top_losses == []
    fig = nbtrain.plot_residuals(h)
    assert [a.get_title() for a in fig.get_axes()] == ["predicted vs true", "residuals"]
    with pytest.raises(NbtrainError, match=r"^top_losses\(run\): the run has no top losses"):
        nbtrain.top_losses(h)


def test_tabular_top_losses_are_rows():
    tr, va = tiny_data(img=False)
    torch.manual_seed(0)
    h = nbtrain.fit(model=nn.Linear(8, 3), train=tr, val=va, epochs=1, **QUIET)
    rows = nbtrain.top_losses(h, 3)
    xs = torch.cat([x for x, _ in va])
    assert [tuple(r["x"].shape) for r in rows] == [(8,)] * 3
    assert all(torch.equal(r["x"], xs[r["index"]]) for r in rows)
    fig = nbtrain.plot_top_losses(h, 3)
    table = fig.get_axes()[0].tables[0]
    assert table[0, 0].get_text().get_text() == "index" and table[1, 0].get_text().get_text() == str(rows[0]["index"])


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_gets_the_confusion_image_and_per_class_scalars(tmp_path):
    from nbtrain.sinks.tensorboard import TensorBoard
    tr, va = tiny_data()
    tb = TensorBoard(tmp_path / "r", budget=1e9)            # the labelled matrix's cost within budget at once
    h = nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=2, callbacks=[tb], checkpoint_dir="", **QUIET)
    acc = _events(tmp_path / "r")
    imgs = acc.Images("confusion_matrix")                  # every epoch (the budget): drawn with torch, no matplotlib
    assert [e.step for e in imgs] == [1, 2] and (imgs[0].width, imgs[0].height) == (255, 255)   # 3 cells of 85
    for e, cm in zip(imgs, h.confusion):
        png = torch.as_tensor(np.asarray(Image.open(io.BytesIO(e.encoded_image_string)).convert("RGB")))
        assert torch.equal(png.permute(2, 0, 1), insight.confusion_image(cm))
    labelled = acc.Images("confusion_matrix/labelled")      # at the end, with names and counts (matplotlib)
    assert [e.step for e in labelled] == [2] and labelled[0].width > 200
    for key in ("precision", "recall", "f1"):
        for c in range(3):
            ev = acc.Scalars(f"val_{key}/{c}")
            assert [e.step for e in ev] == [1, 2]
            assert [e.value for e in ev] == pytest.approx([pc[key][c] for pc in h.per_class], abs=1e-6)


def test_checkpoints_resume_and_the_run_json_keep_the_insight(tmp_path):
    tr, va = tiny_data()
    kw = dict(train=tr, val=va, checkpoint_dir=str(tmp_path / "ck"), logdir=str(tmp_path / "runs"), run_name="r",
              **QUIET)
    h1 = nbtrain.fit(model=tiny_cnn(), epochs=1, **kw)
    ck = nbtrain.load_checkpoint(tmp_path / "ck" / "r" / "last.pt")
    assert ck["history"]["confusion"] == h1.confusion and ck["history"]["top_losses"] == h1.top_losses
    h2 = nbtrain.fit(model=tiny_cnn(), epochs=2, resume=tmp_path / "ck" / "r" / "last.pt", **kw)
    assert len(h2.confusion) == 2 and h2.confusion[0] == h1.confusion[0] and h2.per_class[0] == h1.per_class[0]
    record = read_run(tmp_path / "runs" / "r")                                  # the JSON and its rows file
    assert record["history"]["confusion"] == h2.confusion and record["history"]["per_class"] == h2.per_class
    back = insight.history_of(tmp_path / "runs" / "r")
    assert back.confused_pairs(3) == h2.confused_pairs(3) and back.top_losses == h2.top_losses
    assert History.from_dict(h2.to_dict()).to_dict() == h2.to_dict()
    fig = nbtrain.plot_confusion(tmp_path / "runs" / "r")
    assert fig.get_axes()[0].get_xlabel() == "predicted"


def test_bad_inputs_say_what_to_pass(tmp_path):
    with pytest.raises(NbtrainError, match=r"^top_losses\(run\): expected a History, a Run or a run folder, got int"):
        nbtrain.top_losses(3)
    with pytest.raises(NbtrainError, match=r"does not exist \(give a run folder that holds nbtrain-run.json\)"):
        nbtrain.plot_confusion(tmp_path / "nope")
    h = History()
    h.record_validation({"confusion": [[1]], "top_losses": [{"index": 0, "loss": 1.0, "true": 0, "pred": 0}]})
    with pytest.raises(NbtrainError, match=r"^top_losses\(data=...\): no validation data to draw the samples from"):
        nbtrain.top_losses(h)


def test_a_short_run_skips_the_labelled_confusion_matrix_its_budget_cannot_pay_for(tmp_path):
    tr, va = tiny_data()
    nbtrain.fit(model=tiny_cnn(), train=tr, val=va, epochs=2, logdir=str(tmp_path), run_name="r", checkpoint_dir="",
                **QUIET)                                    # seconds long: 0.5% of it is far below the figure's cost
    tags = _events(tmp_path / "r").Tags()["images"]
    assert "confusion_matrix" in tags and "confusion_matrix/labelled" not in tags
