"""Run by tests/test_distributed.py under torchrun: a callback on rank 0 alone asks to stop at step 3."""
import json
import os
import sys

import nbtrain
from nbtrain.train.callbacks import Callback


class StopOnRankZero(Callback):
    def on_batch_end(self, state, logs):
        if state.rank == 0 and state.step == 3:
            state.request_stop("rank 0 had enough")


spec = nbtrain.TrainSpec.load(sys.argv[1])
h = nbtrain.fit(spec, callbacks=[StopOnRankZero()], progress=False)
rank = int(os.environ["RANK"])
with open(os.path.join(sys.argv[2], f"rank{rank}.json"), "w") as f:
    json.dump({"rank": rank, "steps": [s["step"] for s in h.steps], "reason": h.stop_reason}, f)
