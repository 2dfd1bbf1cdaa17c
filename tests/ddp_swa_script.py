"""Run by tests/test_distributed.py under torchrun: SWA on a model with BatchNorm; each rank saves its final model."""
import os
import sys

import torch

import nbtrain

spec = nbtrain.TrainSpec.load(sys.argv[1])
model = nbtrain.build_model(spec.model, (1, 8, 8))
nbtrain.fit(spec, model=model, progress=False)
torch.save(model.state_dict(), os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.pt"))
