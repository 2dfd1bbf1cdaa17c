import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

# `bash dev.sh test` runs the suite in three parts:
# 1. "parallel": the in-process tests on every core (pytest-xdist, each module's tests in one process, one torch
#    thread each), and the notebooks (one kernel each, no deadline);
# 2. "processes": the modules below, which start processes or kernels, send them signals or wait on them. Each
#    waits on process start-up (imports) and polls for much of its time (run one at a time, the part kept ~0.9 of
#    one of 2 cores busy), so two pytest runs go side by side, lane 1 and lane 2 (`--lane`): each takes whole
#    groups (a module, or a GROUPS group), the costliest first, to the lane with less to do (COST), so the lanes
#    are fixed, and a failure is reproduced by running its lane. Each test signals only the processes (and process
#    groups) it started, finds them as its own children, and picks free ports;
# 3. "alone": the browser tests (a Stop click within 2 s, a redraw under 16 ms) and what reads the files the other
#    parts write, one test at a time.
# A single test elsewhere that must not run beside in-process tests: @pytest.mark.serial (part 2), or its id in
# SERIAL_TESTS: notebooks 06 (its TensorBoard servers are found, and stopped, by what started since the test began)
# and 08 (torchrun workers, Ray, a kill as soon as a checkpoint exists).
SERIAL = {"test_colab_pins", "test_dashboard_kernel", "test_diskfaults", "test_distributed", "test_elastic",
          "test_env_malloc", "test_faultsweep", "test_interrupt_faults", "test_launch", "test_ray", "test_rundirs",
          "test_signal_abort", "test_signals", "test_tblaunch", "test_trust_runs", "test_wheel"}
ALONE = {"test_docs_notebooks"}          # reads the executed copies the notebook tests write
SERIAL_TESTS = {f"{module}::{test}[{stem}]" for stem in ("06_tensorboard", "08_scale_out")
                for module, test in (("test_notebooks", "test_notebook_runs_without_errors"),
                                     ("test_notebooks_zh", "test_chinese_notebook_runs_without_errors"))}
# Part 2's groups beyond one module each (one lane each): Ray's users (one local Ray at a time: notebook 08 starts
# its own), what starts or stops TensorBoard servers (notebook 06 stops those that started while it ran), and the
# signal tests that share one fork server
GROUPS = {"test_ray": "ray", "test_tblaunch": "tensorboard",
          "test_signals": "signals", "test_signal_abort": "signals",     # one fork server and straight run for both
          **{test: "ray" if "08_scale_out" in test else "tensorboard" for test in SERIAL_TESTS}}
# about how long each group takes in its lane (s; CI's fresh-clone run of 2026-12-07 16:03, the lanes side by side);
# the others count 5
COST = {"ray": 210, "test_interrupt_faults": 77, "test_launch": 64, "signals": 45, "test_elastic": 40,
        "tensorboard": 23, "test_faultsweep": 15, "test_distributed": 15, "test_wheel": 11, "test_cli_faults": 10,
        "test_rundirs": 8, "test_dashboard_kernel": 8, "test_env_malloc": 7, "test_diskfaults": 7,
        "test_colab_pins": 4, "test_trust_runs": 3, "test_cli_torchrun": 3}


def pytest_addoption(parser):
    parser.addoption("--part", choices=("all", "parallel", "processes", "alone"), default="all",
                     help="nbtrain: only the tests that may run beside others (parallel), those that start and "
                          "signal processes (processes), or those that run alone (the browser); bash dev.sh test "
                          "runs the three")
    parser.addoption("--lane", choices=("all", "1", "2"), default="all",
                     help="nbtrain, with --part processes: only lane 1's or lane 2's groups (dev.sh runs the two "
                          "side by side)")


def part_of(item) -> str:
    path = item.path
    if path.parent.name == "browser" or path.stem in ALONE:
        return "alone"
    if path.stem in SERIAL or f"{path.stem}::{item.name}" in SERIAL_TESTS or item.get_closest_marker("serial"):
        return "processes"
    return "parallel"


def group_of(item) -> str:
    return GROUPS.get(f"{item.path.stem}::{item.name}") or GROUPS.get(item.path.stem) or item.path.stem


def lanes(groups) -> dict[str, str]:
    """Each group's lane: the costliest first, each to the lane with less so far (ties: lane 1)."""
    load, lane = {"1": 0, "2": 0}, {}
    for g in sorted(set(groups), key=lambda g: (-COST.get(g, 5), g)):
        lane[g] = min(load, key=lambda k: (load[k], k))
        load[lane[g]] += COST.get(g, 5)
    return lane


def pytest_collection_modifyitems(config, items):
    part, lane = config.getoption("--part"), config.getoption("--lane")
    if part == "all":
        return
    keep = [item for item in items if part_of(item) == part]
    if part == "processes" and lane != "all":
        of = lanes(group_of(item) for item in keep)
        keep = [item for item in keep if of[group_of(item)] == lane]
    if len(keep) < len(items):
        kept = set(map(id, keep))
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept])
        items[:] = keep


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
