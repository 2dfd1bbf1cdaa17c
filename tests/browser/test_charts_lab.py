"""The dashboard follows JupyterLab's theme and speaks Chinese: two short ``nb.fit`` cells in JupyterLab Dark, one
in English, one with ``Dashboard(lang="zh")``. The live view takes the dark colours and the Chinese words (legends,
axis titles, buttons); the picture each run leaves in the saved notebook is dark too, its status line in the run's
language. The README's dark-theme and Chinese screenshots come from here."""
import json
import urllib.request

import nbformat
from chartcheck import axis_titles, legend, saved_pictures
from conftest import SHOTS, cell_output
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """import nbtrain as nb
from nbtrain.sinks.dashboard import Dashboard
spec = nb.TrainSpec.default()
spec.loop.epochs = 2"""
ZH = """h = nb.fit(spec, dashboard=Dashboard(lang="zh"))"""


def _theme(lab, name: str) -> None:
    """Set JupyterLab's theme in the server's user settings (a page opened after this one takes it)."""
    body = json.dumps({"raw": json.dumps({"theme": name})}).encode()
    req = urllib.request.Request(lab.url("lab/api/settings/@jupyterlab/apputils-extension:themes"), data=body,
                                 method="PUT", headers={"Content-Type": "application/json",
                                                        "Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (200, 204), r.status


def _dark_share(png_b64: str) -> float:
    import base64
    import io

    import numpy as np
    from PIL import Image
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(png_b64))).convert("L"))
    return float((img < 60).mean())


def test_dark_theme_and_chinese_in_the_live_view_and_the_saved_picture(lab, notebook):
    nb = new_notebook(cells=[new_code_cell(SETUP), new_code_cell("h = nb.fit(spec)"), new_code_cell(ZH)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "charts_dark.ipynb")
    page = notebook.page
    page.set_viewport_size({"width": 1400, "height": 1600})
    _theme(lab, "JupyterLab Dark")
    try:
        notebook.open("charts_dark.ipynb")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        notebook.run_all(600_000)
        assert notebook.errors() == []
        en, zh = cell_output(page, 1), cell_output(page, 2)
        for out in (en, zh):
            out.locator("svg.nbtrain-chart[data-key='loss'] path.train").wait_for()
            assert "nbtrain-dark" in out.locator(".nbtrain-live").get_attribute("class")
        assert legend(en, "loss") == ["train", "validation"]
        names = legend(zh, "loss")                  # the English run before it trained on the same data
        assert names[0].endswith("（之前的运行）") and names[1:] == ["训练", "验证"], names
        assert axis_titles(zh, "loss") == ["步数", "损失"]
        assert zh.locator(".nbtrain-lr-text").inner_text() == "学习率 0.001（恒定）"
        assert zh.locator(".nbtrain-export").inner_text() == "导出 HTML"
        SHOTS.mkdir(parents=True, exist_ok=True)
        en.locator(".nbtrain-live").screenshot(path=str(SHOTS / "dashboard-dark.png"))
        zh.locator(".nbtrain-live").screenshot(path=str(SHOTS / "dashboard-zh.png"))
        page.keyboard.press("Control+s")
        pics = saved_pictures(lab.root / "charts_dark.ipynb", 2)
        assert [_dark_share(p["data"]["image/png"]) > 0.5 for p in pics] == [True, True]   # the run's theme
        assert pics[0]["data"]["text/plain"].startswith("epoch 2/2 · step ")
        assert pics[1]["data"]["text/plain"].startswith("第 2/2 轮 · ")                    # the run's language
    finally:
        _theme(lab, "JupyterLab Light")            # the server's settings outlive this test
