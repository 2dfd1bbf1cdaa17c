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
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1000, max(out) * 1000


def main():
    import torch
    torch.set_num_threads(1)
    import matplotlib.pyplot as plt

    from nbtrain.optim import lr_curve
    from nbtrain.spec import OptimSpec, SchedSpec, TrainSpec
    from nbtrain.widgets import LayerBuilder, SchedulerPicker, TransformPicker

    epochs, steps = 30, 100
    p = SchedulerPicker(SchedSpec("OneCycleLR", params={"max_lr": 0.1}), OptimSpec(lr=0.01), epochs, steps)
    gammas = [0.3, 0.4, 0.5, 0.6, 0.7]
    med, worst = timed(lambda i: setattr(p.params.fields["pct_start"].input, "value", gammas[i % 5]))
    print(f"SchedulerPicker: change -> new LR curve PNG ({epochs} epochs x {steps} steps = {epochs * steps} "
          f"steps): median {med:.0f} ms, worst {worst:.0f} ms")
    curve = lr_curve(OptimSpec(lr=0.01), p.spec, epochs, steps)

    def pyplot_way(i):
        fig, ax = plt.subplots(figsize=(5.5, 2.6), dpi=80)
        ax.plot(curve[0])
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    base, _ = timed(pyplot_way)
    render, _ = timed(lambda i: p.redraw())
    print(f"  of which lr_curve + in-place Agg render: {render:.0f} ms; a fresh pyplot figure + savefig alone: "
          f"{base:.0f} ms (ratio {render / base:.2f})")

    b = LayerBuilder(TrainSpec.default().model, (1, 28, 28))
    med, worst = timed(lambda i: setattr(b.rows.rows[7].params.fields["out_features"].input, "value", 32 + i))
    print(f"LayerBuilder (10 layers): change -> summary + code: median {med:.0f} ms, worst {worst:.0f} ms")

    t = TransformPicker(TrainSpec.default().data, n_samples=16)
    sizes = [26, 28]
    med, worst = timed(lambda i: setattr(t.fields.inputs["image_size"], "value", sizes[i % 2]), n=6)
    print(f"TransformPicker (digits): change -> checked pipelines + 16-sample grid: median {med:.0f} ms, "
          f"worst {worst:.0f} ms")


if __name__ == "__main__":
    main()
