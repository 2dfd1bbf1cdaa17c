"""Two background fits in one process: each gives the numbers it gives alone (they would share torch's global random
generator: shuffling and dropout), because the second waits for the first and says so; a second fit of a run that is
training or waiting here is still one clear error at once. Tiny spec (digits 8x8, one conv, dropout): ~1 s a run."""
import os
import socket
import threading

import pytest
import torch
from test_loop_spec import small_spec

import nbtrain
from nbtrain.errors import NbtrainError
from nbtrain.train.background import TURNS
from nbtrain.train.callbacks import Callback

WAIT = 120   # a safety net against a hung test, never reached when the code works
SAYS = ("nbtrain: another background fit is training in this process: this one starts when it ends (fits in one "
        "process share torch's random generator; one at a time, each gives its own numbers)")


class Weights(Callback):
    def on_fit_end(self, state):
        self.params = {k: v.detach().clone() for k, v in state.model.state_dict().items()}


class Hold(Callback):
    def __init__(self):
        self.started, self.go = threading.Event(), threading.Event()

    def on_epoch_start(self, state):
        self.started.set()
        assert self.go.wait(WAIT)


def _specs():
    a, b = small_spec(epochs=1), small_spec(epochs=1)
    b.loop.seed, b.optim.lr = 7, 0.02
    return a, b


def _alone(spec):
    w = Weights()
    h = nbtrain.fit(spec, callbacks=[w], progress=False, dashboard=False, doctor=False)
    return h, w.params


def test_two_background_fits_started_together_each_give_their_numbers_alone(capsys):
    a, b = _specs()
    (ha, wa), (hb, wb) = _alone(a), _alone(b)
    capsys.readouterr()
    ka, kb = Weights(), Weights()
    ra = nbtrain.fit(a, background=True, callbacks=[ka], progress=False, dashboard=False, doctor=False)
    rb = nbtrain.fit(b, background=True, callbacks=[kb], progress=False, dashboard=False, doctor=False)
    ga, gb = ra.wait(WAIT), rb.wait(WAIT)
    assert capsys.readouterr().out.splitlines() == [SAYS]
    assert [e["loss"] for e in ga.epochs] == [e["loss"] for e in ha.epochs]
    assert [e["val_loss"] for e in gb.epochs] == [e["val_loss"] for e in hb.epochs]
    assert all(torch.equal(ka.params[k], wa[k]) for k in wa) and all(torch.equal(kb.params[k], wb[k]) for k in wb)
    assert not all(torch.equal(wa[k], wb[k]) for k in wa)       # two different runs, not one run twice
    assert TURNS.live() == []


def test_a_second_fit_of_a_run_training_or_waiting_here_is_one_error_at_once(tmp_path, capsys):
    a, b = _specs()
    a.loop.checkpoint_dir = b.loop.checkpoint_dir = str(tmp_path)
    hold = Hold()
    first = nbtrain.fit(a, run_name="r", background=True, callbacks=[hold], progress=False, dashboard=False,
                        doctor=False)
    assert hold.started.wait(WAIT)
    second = nbtrain.fit(b, run_name="s", background=True, progress=False, dashboard=False, doctor=False)
    assert capsys.readouterr().out.splitlines() == [SAYS]
    assert repr(second) == "Run(waiting for the background fit before it, starting)"
    owner = f"process {os.getpid()} on {socket.gethostname()}"
    for name, spec in (("r", b), ("s", a)):          # the one training, the one waiting
        with pytest.raises(NbtrainError) as e:
            nbtrain.fit(spec, run_name=name, background=True, progress=False, dashboard=False)
        assert str(e.value) == (f"loop.run_name: the run {name!r} is training now in another process or thread "
                                f"({tmp_path / name}, {owner}) (wait for it to end, or choose another run_name; if "
                                f"that process is gone (on another machine), remove {tmp_path / name / '.nbtrain-lock'})")
    hold.go.set()
    assert first.wait(WAIT).status == "finished" and second.wait(WAIT).status == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "s"] and TURNS.live() == []
