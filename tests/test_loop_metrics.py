"""Metrics by value, the on-device Accumulator, History, and the environment checks the loop relies on."""
import pytest
import torch

from nbtrain.train.history import History
from nbtrain.train.metrics import Accumulator, accuracy, mae, means, topk_accuracy


def test_metric_values():
    out = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    y = torch.tensor([1, 1, 2, 2])
    assert accuracy(out, y) == 0.5
    assert topk_accuracy(out, y, 2) == 0.75
    assert topk_accuracy(out, y, 5) == 1.0                      # k larger than the classes: all of them
    assert mae(torch.tensor([[1.0], [2.0]]), torch.tensor([1.5, 4.0])) == pytest.approx(1.25)
    # binary logits
    assert accuracy(torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])) == pytest.approx(2 / 3)


def test_accumulator_sums_on_the_device_and_reads_once():
    acc = Accumulator(["accuracy", "topk_accuracy"], topk=2)
    out = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    acc.update(torch.tensor(1.0), out, torch.tensor([1, 2]))   # top-1 hits 1 of 2, top-2 hits 1 of 2
    acc.update(torch.tensor(3.0), out, torch.tensor([2, 0]))   # top-1 hits 1 of 2, top-2 hits 2 of 2
    t = acc.read()
    assert t["count"] == 4 and t["steps"] == 2 and t["clean_steps"] == 2
    assert means(t, acc.names, prefix="val_") == pytest.approx({"val_loss": 2.0, "val_accuracy": 0.5,
                                                                "val_top2_accuracy": 0.75})
    acc.update(torch.tensor(float("nan")), out, torch.tensor([1, 1]))
    acc.update(torch.tensor(1.0), out, torch.tensor([1, 1]))
    t = acc.read()
    assert t["clean_steps"] == 2 and t["steps"] == 4           # the first non-finite loss was the 3rd step
    reg = Accumulator(["mae"])
    reg.update(torch.tensor(0.5), torch.tensor([[1.0], [2.0]]), torch.tensor([1.5, 4.0]))
    assert means(reg.read(), reg.names) == pytest.approx({"loss": 0.5, "mae": 1.25})


@pytest.mark.parametrize("metrics", [["accuracy", "topk_accuracy"], ["mae"]])
def test_the_cpus_plain_number_sums_equal_the_device_sums_bit_for_bit(metrics):
    """On the CPU the Accumulator adds floats (no device to sync with); the tensor path an accelerator takes gives
    the same totals to the last bit, the first non-finite step included, and the same checkpointed state."""
    torch.manual_seed(0)
    host, dev = (Accumulator(metrics, topk=3, host=h) for h in (True, False))
    assert host.host and not dev.host and Accumulator(metrics).host          # the CPU's default: plain numbers
    for step in range(40):
        out = torch.randn(16, 10) * 3 if metrics != ["mae"] else torch.randn(16, 1)
        y = torch.randint(0, 10, (16,)) if metrics != ["mae"] else torch.randn(16)
        loss = torch.tensor(float("inf") if step == 25 else float(torch.rand(())) * 2.3, dtype=torch.float32)
        for acc in (host, dev):
            acc.update(loss, out, y)
        if step % 10 == 9:
            assert host.read() == dev.read()
    assert host.read()["clean_steps"] == 25
    a, b = host.state_dict(), dev.state_dict()
    assert torch.equal(a["sums"], b["sums"]) and torch.equal(a["clean"], b["clean"]) and a["steps"] == b["steps"]
    again = Accumulator(metrics, topk=3)
    again.load_state_dict(b)
    assert again.read() == dev.read()


def test_history_reads_like_keras():
    h = History([{"epoch": 1, "loss": 1.0, "val_loss": 2.0}, {"epoch": 2, "loss": 0.5, "val_loss": 1.5}],
                [{"step": 10, "loss": 0.7}])
    assert h["val_loss"] == [2.0, 1.5] and h.last("loss") == 0.5 and len(h) == 2 and "loss" in h
    assert History.from_dict(h.to_dict()).to_dict() == h.to_dict()
    with pytest.raises(KeyError, match="'val_acc' is not in the history \\(logged: epoch, loss, val_loss\\)"):
        h["val_acc"]


def test_outside_a_notebook_the_display_is_a_tqdm_bar():
    from nbtrain.env import in_notebook
    from nbtrain.sinks.defaults import display_sinks
    from nbtrain.sinks.progress import ProgressBar
    assert not in_notebook()
    sinks = display_sinks("auto", True)
    assert len(sinks) == 1 and isinstance(sinks[0], ProgressBar)
    assert display_sinks(False, False) == []
