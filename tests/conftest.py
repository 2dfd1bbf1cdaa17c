import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests share a small CPU with each other; one intra-op thread keeps them predictable."""
    import torch
    torch.set_num_threads(1)
    yield
