"""JupyterLab in chromium shows nbtrain's HTML summary and renders ipywidgets (the widget manager works)."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def test_lab_renders_summary_and_widgets(lab, notebook):
    nb = new_notebook(cells=[
        new_markdown_cell("smoke"),
        new_code_cell("import nbtrain as nb\nnb.summary(nb.TrainSpec.default().model, (1, 28, 28))"),
        new_code_cell("import ipywidgets as W\nW.IntSlider(value=7, description='probe')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, lab.root / "smoke.ipynb")
    notebook.open("smoke.ipynb")
    notebook.run_all()
    page = notebook.page
    table = page.locator("table.nbtrain-summary")
    table.wait_for()
    assert "Conv2d" in table.inner_text()
    assert "Total (input (1, 28, 28))" in table.inner_text()
    slider = page.locator(".widget-slider", has_text="probe")
    slider.wait_for()
    assert "7" in slider.inner_text()
    assert notebook.errors() == []
