"""Build: pure builders from a spec to torch objects: the data (``data``: datasets, pipelines, loaders, the fast
in-memory path), the model (``model``, with ``shapes`` and the first-batch ``layercheck``), the optimizer and its
schedule (``optim``: param groups, Schedule, lr_curve), module modes (``modes``) and a run's parts (``parts``).

Imports the spec stage only."""
