"""``nb.fit(spec, processes=2)`` in JupyterLab: two CPU workers started by torchrun from the cell, rank 0's run live in
the cell's dashboard, a Stop click that ends the cell within 2 s with both workers gone (checked by PID, from here),
and the checkpoint that Stop left resumes exactly (the same numbers as a run of as many epochs never stopped)."""
import json
import time

import nbformat
import psutil
from conftest import cell_output
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """import json, os, time
import nbtrain as nb
spec = nb.TrainSpec.default()
d = spec.data
d.dataset, d.image_shape, d.size, d.num_classes = "synthetic", [1, 8, 8], 2000, 10
d.image_size, d.train_transforms, d.val_transforms, d.val_split = 0, [], [], 0.1
spec.model = nb.ModelSpec(layers=[nb.LayerSpec("Flatten"), nb.LayerSpec("Linear", params={"out_features": 32}),
                                  nb.LayerSpec("ReLU"), nb.LayerSpec("Linear", params={"out_features": 10})])
spec.optim.type, spec.optim.lr = "SGD", 0.05
spec.loop.epochs, spec.loop.log_every, spec.loop.logdir, spec.loop.checkpoint_dir = 1000, 5, "", "ck"
spec.loop.histograms = spec.loop.feature_maps = False
print(json.dumps({"kernel": os.getpid()}))"""

FIT = """h = nb.fit(spec, processes=2, run_name="p")
print(json.dumps({"ended": time.time(), "status": h.status, "reason": h.stop_reason, "epochs": len(h.epochs)}))"""

RESUME = """n = len(h.epochs) + 1                         # the epoch Stop cut short, finished from the checkpoint
again = nb.fit(spec, processes=2, run_name="p", resume="auto", epochs=n, dashboard=False)
whole = nb.fit(spec, processes=2, run_name="whole", epochs=n, dashboard=False)
print(json.dumps({"again": again.epochs, "whole": whole.epochs}))"""

CHART = "svg.nbtrain-chart[data-key='loss']"
D_OF = ("() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')[1]"
        f"?.querySelector(\".jp-Cell-outputArea {CHART} path.train\")?.getAttribute('d') || ''")


def _stdout(page, i: int, timeout=300_000) -> dict:
    out = cell_output(page, i).locator("[data-mime-type='application/vnd.jupyter.stdout']")
    out.first.wait_for(timeout=timeout)
    return json.loads(out.first.inner_text().strip().splitlines()[-1])


def test_processes_from_a_cell_live_stop_no_worker_left_and_an_exact_resume(lab, notebook):
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell(FIT), new_code_cell(RESUME)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "processes.ipynb")
    page = notebook.page
    notebook.open("processes.ipynb")
    notebook.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    kernel = psutil.Process(_stdout(page, 0)["kernel"])
    out = cell_output(page, 1)
    out.locator(CHART).wait_for(timeout=300_000)                    # the workers start: torch imports, rendezvous
    page.wait_for_function(f"() => ({D_OF})().includes('L')", timeout=300_000)     # a curve from rank 0's logs
    first = page.evaluate(D_OF)
    page.wait_for_function(f"old => ({D_OF})() !== old", arg=first, timeout=120_000)   # and it updates live
    page.wait_for_function("() => /epoch ([2-9]|[1-9][0-9]+)\\/1000/.test(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                           ".jp-CodeCell')[1]?.querySelector('.nbtrain-status')?.innerText || '')", timeout=300_000)
    workers = [p for p in kernel.children(recursive=True) if _rank(p) is not None]
    assert sorted(_rank(p) for p in workers) == ["0", "1"], workers
    every = [p.pid for p in kernel.children(recursive=True)]         # the agent and its helpers too
    clicked = time.time()
    out.locator(".nbtrain-stop").click()
    res = _stdout(page, 1, timeout=60_000)
    assert res["status"] == "stopped" and res["reason"] == "stopped by you", res
    assert res["ended"] - clicked < 2.0, res["ended"] - clicked     # the cell ended within 2 s of the click
    print(f"click to the cell's end: {res['ended'] - clicked:.2f} s")
    assert not [p for p in every if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    done = _stdout(page, 2, timeout=600_000)
    notebook.wait_idle(300_000)
    assert notebook.errors() == []
    assert [e["epoch"] for e in done["again"]] == [e["epoch"] for e in done["whole"]] == list(range(1, res["epochs"] + 2))
    for a, b in zip(done["again"], done["whole"]):
        for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert abs(a[k] - b[k]) <= 1e-6 * abs(b[k]), (a["epoch"], k, a[k], b[k])


def _rank(p):
    try:
        return p.environ().get("RANK")
    except psutil.Error:
        return None
