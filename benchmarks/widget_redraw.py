"""How long a widget takes to react to a change, in-process (no browser): the SchedulerPicker's LR curve
(lr_curve + Agg render to PNG), the LayerBuilder's summary and code, the TransformPicker's checks and grid.

Baseline in the same run: rendering the same LR curve with a fresh pyplot figure and savefig, the usual way.
Target from the Widgets issue: the LR curve redrawn within about 150 ms of a change.
Run: .venv/bin/python benchmarks/widget_redraw.py
"""
import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")


def timed(fn, n=15):
    """(median wall ms, worst wall ms, median CPU ms): CPU time is steadier on a shared machine."""
    wall, cpu = [], []
    for i in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall) * 1000, max(wall) * 1000, statistics.median(cpu) * 1000


def main():
    import torch
    torch.set_num_threads(1)
    import matplotlib.pyplot as plt

    from nbtrain.build.optim import lr_curve
    from nbtrain.spec import OptimSpec, SchedSpec, TrainSpec
    from nbtrain.widgets import LayerBuilder, SchedulerPicker, TransformPicker

    pcts = [0.3, 0.4, 0.5, 0.6, 0.7]
    for epochs, steps in ((10, 20), (30, 100)):
        p = SchedulerPicker(SchedSpec("OneCycleLR", params={"max_lr": 0.1}), OptimSpec(lr=0.01), epochs, steps)
        med, worst, cpu = timed(lambda i, p=p: setattr(p.params.fields["pct_start"].input, "value", pcts[i % 5]))
        print(f"SchedulerPicker: change -> new LR curve PNG ({epochs} epochs x {steps} steps): "
              f"median {med:.0f} ms wall ({cpu:.0f} ms CPU), worst {worst:.0f} ms")
    curve = lr_curve(OptimSpec(lr=0.01), p.spec, epochs, steps)

    def pyplot_way(i):
        fig, ax = plt.subplots(figsize=(5.5, 2.6), dpi=80)
        ax.plot(curve[0])
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    _, _, base = timed(pyplot_way)
    _, _, render = timed(lambda i: p.redraw())
    print(f"  redraw (lr_curve + code + in-place Agg render to PNG): {render:.0f} ms CPU; a fresh pyplot figure + "
          f"savefig of the same curve alone: {base:.0f} ms CPU (ratio {render / base:.2f})")

    b = LayerBuilder(TrainSpec.default().model, (1, 28, 28))
    med, worst, cpu = timed(lambda i: setattr(b.rows.rows[7].params.fields["out_features"].input, "value", 32 + i))
    print(f"LayerBuilder (10 layers): change -> summary + code: median {med:.0f} ms wall ({cpu:.0f} ms CPU), "
          f"worst {worst:.0f} ms")

    t = TransformPicker(TrainSpec.default().data, n_samples=16)
    sizes = [26, 28]
    med, worst, cpu = timed(lambda i: setattr(t.fields.inputs["image_size"], "value", sizes[i % 2]), n=6)
    print(f"TransformPicker (digits): change -> checked pipelines + 16-sample grid: median {med:.0f} ms wall "
          f"({cpu:.0f} ms CPU), worst {worst:.0f} ms")
    from nbtrain.widgets import Workbench
    Workbench(TrainSpec.default(), background=False)
    med, worst, cpu = timed(lambda i: Workbench(TrainSpec.default(), background=False), n=3)
    print(f"Workbench(TrainSpec.default()) built (imports done): median {med:.0f} ms wall ({cpu:.0f} ms CPU)")


if __name__ == "__main__":
    main()
