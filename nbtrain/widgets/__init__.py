"""Notebook editors over a spec; each edits its own part and can be built from a spec."""
try:
    import ipywidgets  # noqa: F401
except ImportError as e:  # pragma: no cover - ipywidgets is a dependency; this guards broken installs
    from ..errors import NbtrainError
    raise NbtrainError("ipywidgets is not installed", "nbtrain.widgets", "pip install 'ipywidgets>=8'") from e

from .optimizer import OptimizerPicker
from .params import ParamsEditor

__all__ = ["OptimizerPicker", "ParamsEditor"]
