"""The run record (nbtrain.train.history.History): what it keeps, its best epoch, and the displays that read it."""
import json
import re
import warnings

import pytest
import torch
from test_dashboard import _dash
from tinyfit import blobs, mini_fit, tiny_cnn

import nbtrain
from nbtrain.sinks.dashboard.export import page
from nbtrain.train.history import History
from nbtrain.train.rundirs import FILENAME


def _rows(values, key="val_accuracy"):
    return [{"epoch": i + 1, "step": 10 * (i + 1), key: v} for i, v in enumerate(values)]


def test_best_follows_the_monitor_and_mode_it_watches_and_any_key_by_its_catalog_direction():
    h = History()
    h.watch("val_accuracy", "max")
    for row in _rows([0.5, 0.9, 0.7, 0.9]):
        h.on_epoch_end(None, row)
    assert h.best() == ("val_accuracy", 0.9, 2)                      # the first epoch that reached it
    assert h.best("val_accuracy", "min") == ("val_accuracy", 0.5, 1)
    h.epochs[0]["val_loss"], h.epochs[2]["val_loss"] = 0.3, float("nan")
    assert h.best("val_loss") == ("val_loss", 0.3, 1)               # the loss: lower is better; NaN never best
    assert h.bests() == {"val_accuracy": 0.9, "val_loss": 0.3}
    h.watch("val_loss", "min")                                       # a new monitor: its best from the rows kept
    assert h.best() == ("val_loss", 0.3, 1)


def test_the_catalog_says_which_way_a_metric_is_better():
    from nbtrain.spec.catalog import metric_mode
    assert [metric_mode(k) for k in ("loss", "val_loss", "accuracy", "val_topk_accuracy", "swa_val_accuracy",
                                     "val_mae", "val_f1", "my_error")] == ["min", "min", "max", "max", "max", "min",
                                                                          "max", "min"]


def test_to_dict_and_back_keeps_notes_lr_scales_and_the_monitor():
    h = History(_rows([0.1, 0.2]))
    h.watch("val_accuracy", "max")
    h.notes_shown = True
    h.note("watch out")
    h.lr_scaled(5, 0.5)
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back.notes == ["watch out"] and back.lr_scales == [[5, 0.5]] and back.lr_scale == 0.5
    assert back.best() == ("val_accuracy", 0.2, 2) and back["val_accuracy"] == [0.1, 0.2]


def test_a_note_is_a_warning_only_when_no_display_shows_the_notes():
    for shown, warned in ((False, 1), (True, 0)):
        h = History()
        h.notes_shown = shown
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            h.note("the loss rose", RuntimeWarning)
        assert h.notes == ["the loss rose"] and len(rec) == warned


def test_the_planned_lr_is_drawn_once_by_the_first_reader():
    h, calls = History(), []
    h.plan_lr(lambda: calls.append(1) or [[0.1, 0.05]])
    assert calls == []                                               # nothing drawn for a run no display reads
    assert h.lr_plan == [[0.1, 0.05]] and h.lr_plan == [[0.1, 0.05]] and calls == [1]
    h.plan_lr(lambda: 1 / 0)
    assert h.lr_plan is None                                         # a plan that cannot be drawn: none


def _spec():
    spec = nbtrain.TrainSpec.default()                              # digits: val accuracy rises epoch by epoch
    spec.loop.monitor, spec.loop.mode = "val_loss", "min"            # what fit()'s arguments override
    return spec


@pytest.mark.parametrize("mode", ["max", "min"])
def test_the_status_line_best_epoch_follows_monitor_and_mode_passed_to_fit(tmp_path, mode):
    d, _ = _dash()
    h = nbtrain.fit(_spec(), epochs=3, monitor="val_accuracy", mode=mode, dashboard=d, progress=False,
                    logdir=str(tmp_path / "runs"), checkpoint_dir=str(tmp_path / "ck"), run_name="r")
    acc = h["val_accuracy"]
    pick = max if mode == "max" else min
    want = acc.index(pick(acc)) + 1
    other = acc.index((min if mode == "max" else max)(acc)) + 1
    assert want != other, acc                                       # the test tells the two modes apart
    m = re.search(r"best (\S+) ([\d.]+) \(epoch (\d)\)", d.status_text())
    assert m and m[1] == "val_accuracy" and int(m[3]) == want and float(m[2]) == pytest.approx(acc[want - 1], abs=1e-4)
    assert h.best() == ("val_accuracy", acc[want - 1], want) and (h.monitor, h.mode) == ("val_accuracy", mode)
    best = torch.load(tmp_path / "ck" / "r" / "best.pt", weights_only=True)
    assert best["epoch"] == want                                    # best.pt is the record's best epoch
    record = json.loads((tmp_path / "runs" / "r" / FILENAME).read_text())
    assert record["best_epoch"] == {"key": "val_accuracy", "value": acc[want - 1], "epoch": want}
    status = json.loads(re.search(r'id="nbtrain-data">(.*?)</script>', page(d), re.S)[1])["message"]["status"]
    assert f"best val_accuracy {acc[want - 1]:.4g} (epoch {want})" in status   # the export shows the same line


def _stops_at(values, mode):
    """The epoch plain.EarlyStop (patience 1) stops at over ``values`` in ``mode``, or None."""
    from nbtrain.train.plain import EarlyStop
    es = EarlyStop("m", mode, patience=1, restore_best=False)
    return next((i for i, v in enumerate(values, 1) if es.should_stop({"m": v}, None, i)), None)


def test_monitor_val_accuracy_without_a_mode_picks_the_highest_for_best_and_early_stopping():
    """Keras' mode="auto": neither the spec nor fit() names a mode, so the catalog's direction (accuracy: max)
    judges the best epoch, the status and early stopping alike."""
    assert nbtrain.TrainSpec().loop.mode == "auto"
    st = mini_fit(epochs=8, lr=0.02, monitor="val_accuracy", early_stopping=1)
    h, acc = st.history, st.history["val_accuracy"]
    assert (h.monitor, h.mode) == ("val_accuracy", "max")
    top = acc.index(max(acc)) + 1
    assert h.best() == ("val_accuracy", max(acc), top) and h.bests()["val_accuracy"] == max(acc)
    assert _stops_at(acc, "max") == len(acc) != _stops_at(acc, "min"), acc     # the two modes stop apart
    assert st.stop_reason == (f"early stopping: val_accuracy did not improve for 1 epochs "
                              f"(best {max(acc):.4g} at epoch {top})")


def test_export_reads_the_record_the_same_way_live_and_finished():
    x, y = blobs(48)
    d, _ = _dash()
    h = nbtrain.fit(model=tiny_cnn(), train=(x, y), val=(x[:16], y[:16]), epochs=2, log_every=2, dashboard=d)
    live = json.loads(re.search(r'id="nbtrain-data">(.*?)</script>', page(d), re.S)[1])["message"]
    done = json.loads(re.search(r'id="nbtrain-data">(.*?)</script>', page(h), re.S)[1])["message"]
    for key in ("steps", "epochs", "lr", "notes", "layers", "acts", "insight"):
        assert live.get(key) == done.get(key), key
    assert live["layers"][1] and live["insight"]["kind"] == "classification" and len(done["epochs"][1]) == 2
    assert done["status"] == f"2 epochs · step {h.steps[-1]['step']} · finished"


def test_a_checkpoints_history_is_the_records_json_and_each_row_is_encoded_once(monkeypatch):
    """state_dict() is what a checkpoint holds: the same JSON as the whole record, but a row already encoded for an
    earlier checkpoint is not encoded again (a long run's epoch end would re-encode every log point so far)."""
    h = History()
    state = type("S", (), {"step": 0})()
    for i in range(300):
        h.on_log(state, {"step": i + 1, "epoch": i // 100 + 1, "loss": 1.0 / (i + 1), "lr": 0.1})
        if i % 100 == 99:
            h.on_epoch_end(state, {"epoch": i // 100 + 1, "step": i + 1, "loss": 0.5, "val_loss": 0.4})
            h.record_validation({"confusion": [[3, 1], [0, 4]]})
    assert json.loads(h.state_dict()) == json.loads(json.dumps(h.to_dict()))
    encoded = []
    real = json.dumps
    monkeypatch.setattr(json, "dumps", lambda obj, *a, **k: encoded.append(obj) or real(obj, *a, **k))
    h.on_log(state, {"step": 301, "epoch": 4, "loss": 0.01, "lr": 0.1})
    back = History.from_dict(json.loads(h.state_dict()))
    rows = [o for o in encoded if isinstance(o, dict) and "step" in o]
    assert rows == [{"step": 301, "epoch": 4, "loss": 0.01, "lr": 0.1}]            # only the new log point
    assert back.steps == h.steps and back.epochs == h.epochs and back.confusion == h.confusion == [[[3, 1], [0, 4]]] * 3
    h.drop_steps_after(150)                                       # a list replaced (a resume): encoded afresh
    assert json.loads(h.state_dict())["steps"] == h.steps and len(h.steps) == 150
    h.steps.append({"step": 151, "bad": object()})               # a value JSON cannot hold: the dict itself
    assert h.state_dict()["steps"][-1]["step"] == 151
