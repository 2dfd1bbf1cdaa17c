import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# `bash dev.sh test` runs the suite in two parts: the in-process tests on every core (pytest-xdist, each module's
# tests in one process, one torch thread each), then these modules alone, one test at a time: each starts processes,
# kernels or a browser, sends signals or waits on another process, and a second test beside it on a 2-core machine
# would only slow it (or its deadline).
# A single test elsewhere that must run alone: @pytest.mark.serial, or its id in SERIAL_TESTS. The notebooks run in
# the parallel part (one kernel each, no deadline) but 06 (its TensorBoard servers are found, and stopped, by what
# started since the test began) and 08 (torchrun workers, a kill as soon as a checkpoint exists).
SERIAL = {"test_colab_pins", "test_dashboard_kernel", "test_diskfaults", "test_distributed", "test_docs_notebooks",
          "test_elastic", "test_env_malloc", "test_faultsweep", "test_interrupt_faults", "test_launch", "test_ray", "test_rundirs",
          "test_signal_abort", "test_signals", "test_tblaunch", "test_trust_runs", "test_wheel"}
SERIAL_TESTS = {f"{module}::{test}[{stem}]" for stem in ("06_tensorboard", "08_scale_out")
                for module, test in (("test_notebooks", "test_notebook_runs_without_errors"),
                                     ("test_notebooks_zh", "test_chinese_notebook_runs_without_errors"))}


def pytest_addoption(parser):
    parser.addoption("--part", choices=("all", "parallel", "serial"), default="all",
                     help="nbtrain: only the tests that may run beside others (parallel), or only those that run "
                          "alone (serial); bash dev.sh test runs both")


def is_serial(item) -> bool:
    path = item.path
    return (path.parent.name == "browser" or path.stem in SERIAL or f"{path.stem}::{item.name}" in SERIAL_TESTS
            or item.get_closest_marker("serial") is not None)


def pytest_collection_modifyitems(config, items):
    part = config.getoption("--part")
    if part == "all":
        return
    wanted = part == "serial"
    drop = [item for item in items if is_serial(item) != wanted]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if is_serial(item) == wanted]


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
