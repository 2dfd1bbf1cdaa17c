"""Train: ``loop`` (``fit`` and the Trainer: read top-down, this is the loop), the step factories (``steps``), RNG
seeding and snapshots (``rng``), checkpoints' contents and loading (``resume``), the callbacks and their typed State
(``callbacks``), the run record (``history``) with what validation collects (``metrics``, ``valstats``,
``insight``, ``features``), Ctrl-C at batch boundaries (``interrupts``), run folders (``rundirs``), ``lr_find``,
background runs (``background``) and torchrun (``distributed``).

Imports the spec and build stages; ``fit()`` is where the default sinks are assembled (``sinks.defaults``)."""
