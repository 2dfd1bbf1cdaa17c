"""How long the live dashboard takes to redraw in the browser, by points per curve (10^3, 10^4, 10^5).

The page is the dashboard's own front end (the exported page: chart.js, charts.js, panels.js, live.js) holding a
run of N log points as fit(log_every=1) leaves it: loss and accuracy every step, a validation point every N/100
steps, a cosine LR, a layer-statistics row (gradient norm and update ratio of each layer) at every log point, the
activation statistics and a confusion matrix with its per-class table every epoch; opened in chromium. Each timed
redraw follows the arrival of one more log point (a step, its LR and its layer row appended to the view's store, as
a kernel message does) and runs what such a message runs, ``v.update()``: the status line, every chart (loss,
accuracy, LR), the layer strip and the insight panel, then a forced layout (the browser's style and layout work
for what changed), timed in the page with performance.now(); the figure is the median of 10 such redraws (one
warm-up round of 10 first; the very first redraw, which builds the cached series, is reported apart). The view keeps
every point for hover and export and draws at most 4 points per pixel column (min/max per column), so the redraw
should stay flat in N; the Charts issue's target is under 16 ms at 10^5 points per curve.

Run (quiet machine): PYTHONPATH=$PWD .venv/bin/python benchmarks/browser_draw.py [--sizes 1000,10000,100000]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def run_rows(n: int, epochs: int = 100, lr=None):
    """(steps, epochs) log rows of a synthetic run with n log points: a noisy falling loss, a rising accuracy, a
    cosine LR (or ``lr``: a list of constant LRs, one per param group) at every log point."""
    steps, rows = [], []
    per_epoch = max(1, n // epochs)
    for i in range(n):
        noise = 0.05 * math.sin(i * 12.9898) * math.cos(i * 78.233)
        loss = 2.3 * math.exp(-i / (n / 4)) + 0.1 + noise
        lrs = lr if lr is not None else [0.05 * (1 + math.cos(math.pi * i / n)) / 2]
        steps.append({"step": i + 1, "loss": loss, "accuracy": 1 - loss / 2.5,
                      **{("lr" if g == 0 else f"lr_{g}"): v for g, v in enumerate(lrs)}})
        if (i + 1) % per_epoch == 0:
            rows.append({"step": i + 1, "epoch": len(rows), "loss": loss, "accuracy": 1 - loss / 2.5,
                         "val_loss": loss * 1.1 + 0.05, "val_accuracy": 1 - loss / 2.3})
    return steps, rows


def panel_rows(steps: list, epochs: list) -> dict:
    """What fit() with log_every=1 adds to the record for the layer and insight panels: a layer row per log point, an
    activation row and a confusion matrix per epoch (two Linear layers, one ReLU, 10 classes)."""
    layer_rows = [{"step": r["step"], "grad": [r["loss"] / 3, r["loss"] / 7], "update": [1e-3 * r["loss"], 2e-3]}
                  for r in steps]
    act_rows = [{"epoch": e["epoch"] + 1, "step": e["step"], "mean": [0.3], "std": [0.5], "dead": [0.1]}
                for e in epochs]
    cm = [[50 if t == p else (t + p) % 3 for p in range(10)] for t in range(10)]
    return {"layer_names": ["0 Linear", "2 Linear"], "act_names": ["1 ReLU"], "layer_rows": layer_rows,
            "act_rows": act_rows, "confusion": [cm]}


def page_with(n: int, folder: Path, lang: str = "en", lr=None, panels: bool = False) -> Path:
    """Write the exported dashboard page of a synthetic run record with n points per curve (``panels``: with the
    layer strip's and the insight panel's rows too); return its path."""
    from nbtrain.sinks.dashboard import export
    from nbtrain.train.history import History

    steps, epochs = run_rows(n, lr=lr)
    record = History(epochs=epochs, steps=steps)
    if panels:
        extra = panel_rows(steps, epochs)
        cm = extra.pop("confusion")[0]
        for k, v in extra.items():
            setattr(record, k, v)
        record.record_validation({"confusion": cm, "class_names": [str(i) for i in range(10)]})
    page = export.page(record, title=f"{n} points per curve")
    head, rest = page.split('<script type="application/json" id="nbtrain-data">', 1)
    data, tail = rest.split("</script>", 1)
    data = json.loads(data)
    data["traits"]["meta"]["lang"] = lang                  # the words of Dashboard(lang=...)
    data = json.dumps(data).replace("</", "<\\/")
    path = folder / f"draw-{n}-{lang}{'-panels' if panels else ''}.html"
    path.write_text(f'{head}<script type="application/json" id="nbtrain-data">{data}</script>{tail}', encoding="utf-8")
    return path


# What one kernel message does to a live view (live.js: receive -> splice -> v.update()), timed in the page: a log
# point's step, LR and layer row arrive (the x-range moves), then the whole view updates (status, every chart, the
# layer strip, the insight panel) and the browser lays out what changed. A warm-up round of n first; the first
# update of all (the cached series being built) is reported apart.
TIME_REDRAWS = """n => { const v = document.querySelector('.nbtrain-live').nbtrainView, s = v.s;
  const arrive = () => {
    const last = s.steps[s.steps.length - 1], step = last.step + 1;
    s.steps.push({...last, step}); s.lr.push([step, s.lr[s.lr.length - 1][1]]);
    if (s.layers.length) s.layers.push({...s.layers[s.layers.length - 1], step});
  };
  const redraw = () => { const t = performance.now(); v.update(); v.root.getBoundingClientRect();
                         return performance.now() - t; };
  const first = redraw(), t = [];
  for (let i = 0; i < n; i++) { arrive(); redraw(); }
  for (let i = 0; i < n; i++) { arrive(); t.push(redraw()); }
  t.sort((a, b) => a - b);
  return {first, median: (t[(n - 1) >> 1] + t[n >> 1]) / 2, worst: t[n - 1], points: s.steps.length}; }"""


def measure(browser, path: Path, redraws: int = 10) -> dict:
    """{first, median, worst} ms of a live view's update after one more log point, on the page at ``path``."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        return page.evaluate(TIME_REDRAWS, redraws)
    finally:
        page.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--redraws", type=int, default=10)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        print(f"{'points/curve':>12} {'first ms':>9} {'median ms':>10} {'worst ms':>9}")
        for n in (int(s) for s in args.sizes.split(",")):
            r = measure(browser, page_with(n, Path(tmp), panels=True), args.redraws)
            print(f"{n:>12} {r['first']:>9.1f} {r['median']:>10.2f} {r['worst']:>9.1f}")
        browser.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
