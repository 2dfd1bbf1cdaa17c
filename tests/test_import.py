import subprocess
import sys


def test_import_is_light():
    """`import nbtrain` pulls in none of the heavy notebook libraries."""
    code = ("import sys, nbtrain; heavy = [m for m in ('ipywidgets', 'matplotlib', 'tensorboardX') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_exports_resolve():
    import nbtrain
    assert nbtrain.TrainSpec.default().model.layers[0].type == "Conv2d"
    assert "fit" in dir(nbtrain)
