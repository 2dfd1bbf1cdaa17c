"""fit() on the CPU tunes glibc's malloc once, so training steps stop page-faulting their activation buffers."""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = r"""
import json, resource, torch, nbtrain
from nbtrain.train.callbacks import Callback
from nbtrain.env import tune_malloc
torch.manual_seed(0)
x, y = torch.randn(1024, 1, 28, 28), torch.randint(0, 10, (1024,))
train = [(x[i:i + 64], y[i:i + 64]) for i in range(0, 1024, 64)]     # 3.2 MB of activations a conv
model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Flatten(), torch.nn.Linear(16 * 14 * 14, 10))

class Faults(Callback):
    def on_epoch_start(self, state):
        self.start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def on_epoch_end(self, state, logs):
        self.last = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.start

f = Faults()
nbtrain.fit(model=model, train=train, epochs=3, callbacks=[f], progress=False, device="cpu")
print(json.dumps({"tuned": tune_malloc(), "faults": f.last}))
"""


def _run(**env):
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_a_cpu_fit_tunes_malloc_and_its_epochs_stop_page_faulting():
    r = _run()
    assert r["tuned"] is True
    assert r["faults"] < 1000, r             # 16 steps of 3.2 MB buffers: 20,000-40,000 4 KB pages without it


def test_nbtrain_malloc_default_leaves_malloc_alone():
    assert _run(NBTRAIN_MALLOC="default")["tuned"] is False
