"""Run by tests/test_distributed.py under torchrun, two fits in one launch (one start-up of the ranks for both):

1. a callback on rank 0 alone asks to stop at step 3 (fit() owns the process group, as under `nbtrain run`);
   each rank writes the steps it logged and its stop reason to rank<R>.json;
2. SWA on a model with BatchNorm, in a process group this script makes (a script that joined the group itself; under
   its own store prefix, so the second group's keys are not the first one's); each rank saves its final model to
   rank<R>.pt.

argv: the stop spec, the SWA spec, the folder for the results."""
import json
import os
import sys

import torch
import torch.distributed as td

import nbtrain
from nbtrain.train.callbacks import Callback


class StopOnRankZero(Callback):
    def on_batch_end(self, state, logs):
        if state.rank == 0 and state.step == 3:
            state.request_stop("rank 0 had enough")


stop_spec, swa_spec, out = sys.argv[1:4]
rank = int(os.environ["RANK"])

h = nbtrain.fit(nbtrain.TrainSpec.load(stop_spec), callbacks=[StopOnRankZero()], progress=False)
assert not td.is_initialized()                 # fit() made the group and destroyed it at its end
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump({"rank": rank, "steps": [s["step"] for s in h.steps], "reason": h.stop_reason}, f)

store, rank, world = next(td.rendezvous("env://"))
td.init_process_group("gloo", store=td.PrefixStore("swa", store), rank=rank, world_size=world)
spec = nbtrain.TrainSpec.load(swa_spec)
model = nbtrain.build_model(spec.model, (1, 8, 8))
nbtrain.fit(spec, model=model, progress=False)
torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
td.destroy_process_group()
