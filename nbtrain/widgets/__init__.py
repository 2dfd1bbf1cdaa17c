"""Notebook editors over a spec; each edits its own part and can be built from a spec."""
try:
    import ipywidgets  # noqa: F401
except ImportError as e:  # pragma: no cover - ipywidgets is a dependency; this guards broken installs
    from ..errors import NbtrainError
    raise NbtrainError("ipywidgets is not installed", "nbtrain.widgets", "pip install 'ipywidgets>=7.7'") from e

from .app import Workbench
from .fields import FieldsEditor
from .layers import LayerBuilder
from .optimizer import OptimizerPicker
from .params import ParamsEditor
from .scheduler import SchedulerPicker
from .transforms import TransformPicker

__all__ = ["FieldsEditor", "LayerBuilder", "OptimizerPicker", "ParamsEditor", "SchedulerPicker", "TransformPicker",
           "Workbench"]
