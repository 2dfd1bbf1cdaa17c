"""Background runs: stop within one batch, pause and resume, History whole. Driven by fit() on a tiny model;
the events below make the two threads meet at known steps, so nothing depends on timing."""
import threading

import pytest
from tinyfit import mini_fit

from nbtrain.errors import NbtrainError
from nbtrain.train.background import Run, start_background

WAIT = 30  # seconds; only a safety net against a hung test, never reached when the code works


def _tiny_fit(dashboard="auto", **kw):
    state = mini_fit(**kw)
    return state.history


def _meet_at(step):
    """A step hook that, at ``step``, tells the test and waits for its go."""
    reached, go = threading.Event(), threading.Event()

    def hook(state):
        if state.step == step:
            reached.set()
            assert go.wait(WAIT)
    return hook, reached, go


def test_stop_acts_within_one_batch():
    hook, reached, go = _meet_at(3)
    run = start_background({"epochs": 3, "step_hook": hook, "dashboard": False}, fit=_tiny_fit)
    assert reached.wait(WAIT)
    run.stop()
    go.set()
    history = run.wait(WAIT)
    assert run.done and run.state.step == 3 and run.state.stop_reason == "stopped by you"
    assert history is run.history and len(history) == 0            # stopped mid-epoch: no epoch end
    assert [s["step"] for s in history.steps] == [2, 3]            # the window since step 2 is logged
    assert set(history.steps[-1]) == {"step", "epoch", "loss", "accuracy", "lr"}


def test_pause_blocks_after_the_batch_and_resume_finishes_the_run():
    hook, reached, go = _meet_at(3)
    run = start_background({"epochs": 2, "step_hook": hook, "dashboard": False}, fit=_tiny_fit)
    assert reached.wait(WAIT)
    run.pause()
    go.set()
    assert run.control.blocked.wait(WAIT)                            # the loop is now blocked in on_batch_end
    assert run.paused and run.state.step == 3 and run.control.paused_at == 3 and not run.done
    assert "paused" in repr(run) and "step 3" in repr(run)
    assert len(run.history) == 0                                     # live History, mid-epoch
    run.resume()
    history = run.wait(WAIT)
    assert run.state.step == 12 and len(history) == 2 and run.state.stop_reason == ""
    assert run.model is run.state.model and repr(run).startswith("Run(done")


def test_scale_lr_from_python_scales_the_lr_from_the_next_step_and_the_record_keeps_it():
    hook, reached, go = _meet_at(3)
    seen = {}
    run = start_background({"epochs": 2, "step_hook": lambda s: (seen.setdefault(s.step, s.optimizer.param_groups[0]
                                                                                  ["lr"]), hook(s)),
                            "dashboard": False, "lr": 0.05}, fit=_tiny_fit)
    assert reached.wait(WAIT)
    run.scale_lr(0.5)                                                # asked during step 3: applied at its end
    go.set()
    history = run.wait(WAIT)
    assert seen[3] == 0.05 and all(seen[t] == pytest.approx(0.025) for t in range(4, 13))
    assert history.lr_scales == [[3, 0.5]] and history.lr_scale == 0.5
    assert [r[1][0] for r in history.lr_rows if r[0] >= 4] == pytest.approx([0.025] * 5)     # the log points after
    with pytest.raises(NbtrainError) as e:
        run.scale_lr(0)
    assert str(e.value) == ("scale_lr(scale): the LR scale must be a positive number, got 0 (e.g. 0.5 halves the "
                            "planned LR, 1.0 goes back to it)")


def test_stop_while_paused_ends_the_run():
    hook, reached, go = _meet_at(2)
    run = start_background({"epochs": 2, "step_hook": hook, "dashboard": False}, fit=_tiny_fit)
    assert reached.wait(WAIT)
    run.pause()
    go.set()
    assert run.control.blocked.wait(WAIT)
    run.stop()
    run.wait(WAIT)
    assert run.done and run.state.step == 2 and not run.paused


def test_wait_raises_the_runs_error():
    def broken(**kw):
        raise ValueError("bad batch")
    run = Run({}, fit=broken).launch()
    with pytest.raises(ValueError, match="bad batch"):
        run.wait(WAIT)
    assert "failed: ValueError('bad batch')" in repr(run)


def test_stop_before_the_fit_starts():
    run = Run({"epochs": 2}, fit=lambda **kw: _tiny_fit(callbacks=[run.control], **kw))
    run.stop()
    run.launch().wait(WAIT)
    assert run.state.step == 0 and run.state.stop_reason == "stopped by you"   # checked before the first batch


# -- with nbtrain's own fit ---------------------------------------------------------------------------
def _loaders():
    import torch
    from tinyfit import blobs
    x, y = blobs(48)
    ds = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    return train, torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(16)), batch_size=8)


class Meet:
    """A callback that, at ``step``, tells the test and waits for its go (the loop is between batches)."""

    def __init__(self, step):
        self.step, self.reached, self.go = step, threading.Event(), threading.Event()

    def on_batch_end(self, state, logs):
        if state.step == self.step:
            self.reached.set()
            assert self.go.wait(WAIT)

    def __getattr__(self, name):                  # every other hook: nothing
        if name.startswith("on_"):
            return lambda *a: None
        raise AttributeError(name)


def test_real_fit_in_background_stops_within_one_batch_with_history_and_checkpoint_whole(tmp_path):
    import torch
    from tinyfit import tiny_cnn

    import nbtrain
    from nbtrain.train.resume import load_checkpoint
    train, val = _loaders()
    meet = Meet(8)                                 # epoch 2, batch 2 of 6
    run = nbtrain.fit(model=tiny_cnn(), train=train, val=val, epochs=3, callbacks=[meet], background=True,
                      checkpoint_dir=str(tmp_path), run_name="r", progress=False)
    assert isinstance(run, Run) and meet.reached.wait(WAIT)
    run.pause()
    meet.go.set()
    assert run.control.blocked.wait(WAIT) and run.state.step == 8 and not run.done
    run.stop()
    history = run.wait(WAIT)
    assert run.state.step == 8 and history.stop_reason == "stopped by you"
    assert len(history.epochs) == 1 and history.epochs[0]["step"] == 6
    assert [s["step"] for s in history.steps][-1] == 8         # the partial window was logged
    ck = load_checkpoint(tmp_path / "r" / "last.pt")
    assert ck["partial"] and ck["epoch"] == 1 and ck["history"]["epochs"] == history.to_dict()["epochs"]
    for k, v in run.model.state_dict().items():
        assert torch.equal(ck["model"][k], v)


def test_real_fit_in_background_pauses_and_resumes_to_the_end():
    from tinyfit import tiny_cnn

    import nbtrain
    train, val = _loaders()
    meet = Meet(3)
    run = nbtrain.fit(model=tiny_cnn(), train=train, val=val, epochs=2, callbacks=[meet], background=True,
                      progress=False)
    assert meet.reached.wait(WAIT)
    run.pause()
    meet.go.set()
    assert run.control.blocked.wait(WAIT) and run.state.step == 3
    run.resume()
    history = run.wait(WAIT)
    assert run.state.step == 12 and len(history.epochs) == 2 and history.stop_reason == ""
    assert [e["step"] for e in history.epochs] == [6, 12]
