import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests share a small CPU with each other; one intra-op thread keeps them predictable."""
    import torch
    torch.set_num_threads(1)
    yield


@pytest.fixture
def drawing_calls(monkeypatch):
    """Every matplotlib draw or savefig and every PIL image save from now on, by name, in order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image
    calls = []
    for cls, name in ((Figure, "savefig"), (Figure, "draw"), (FigureCanvasAgg, "draw"), (Image.Image, "save")):
        real = getattr(cls, name)

        def spy(*a, _real=real, _name=f"{cls.__name__}.{name}", **kw):
            calls.append(_name)
            return _real(*a, **kw)
        monkeypatch.setattr(cls, name, spy)
    return calls
