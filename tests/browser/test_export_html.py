"""An exported dashboard (``export_html``) opened from disk in chromium with every network request blocked: it draws
its curves (SVG paths with points), the layer panel and the insight panel, and asks the network for nothing."""
import json

import torch
from torch import nn

import nbtrain
from nbtrain.sinks.dashboard import Dashboard
from nbtrain.sinks.dashboard.view import LiveView


def _quiet_view(on_message, meta=None):
    view = LiveView(on_message, meta)
    view.display = lambda: None
    return view


class Confusion(nbtrain.Callback):
    """The History's validation fields (SEAMS format), filled here only where this checkout's loop does not."""

    fake = False

    def on_validation_end(self, state, logs):
        h = state.history
        if hasattr(h, "per_class") and not self.fake:
            return                                   # the loop collects them itself
        self.fake = True
        h.confusion = [[[7, 1, 0], [2, 5, 1], [0, 1, 6]]]
        h.per_class = [{"precision": [0.8, 0.7, 0.9], "recall": [0.9, 0.6, 0.85], "f1": [0.85, 0.65, 0.87],
                        "support": [8, 8, 7]}]
        h.top_losses, h.class_names = [{"index": 0, "loss": 3.2, "true": 1, "pred": 0}], None


def test_the_exported_page_draws_without_kernel_or_network(chromium, tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(96) % 3
    x = torch.randn(96, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3))
    dash = Dashboard(mode="widgets", view=_quiet_view)
    nbtrain.fit(model=model, train=(x, y), val=(x[:32], y[:32]), epochs=3, log_every=1, dashboard=dash,
                callbacks=[Confusion()], progress=False)
    path = dash.export_html(tmp_path / "run.html")

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    asked, errors = [], []
    page.on("request", lambda r: asked.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    context.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else
                  route.continue_())
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        d = page.locator("svg.nbtrain-chart[data-key='loss'] path.train").first.get_attribute("d")
        assert d.startswith("M") and d.count("L") == len(dash.record.steps) - 1 == 5, d    # a line through the 6 log points
        dots = page.locator("svg.nbtrain-chart[data-key='loss'] circle.val").count()
        assert dots == 3                                                    # one val point per epoch
        assert page.locator(".nbtrain-layers").is_visible()
        names = page.locator(".nbtrain-layer-names div").all_inner_texts()
        assert names == ["0 Conv2d", "3 Linear"]
        assert all(v not in ("", "null", "undefined") for v in page.locator(".nbtrain-layer-last div").all_inner_texts())
        assert page.locator(".nbtrain-insight").is_visible()
        assert page.locator(".nbtrain-perclass tr").count() == 4            # a header and 3 classes
        assert page.locator("button.nbtrain-stop").is_hidden()              # no kernel: no controls
    finally:
        context.close()
    assert errors == [], errors
    assert asked == [path.as_uri()], json.dumps(asked)                     # the file itself, nothing else
