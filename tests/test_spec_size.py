"""A huge spec ends in one clear error before its layers are parsed, and the type hints of a spec class are worked
out once, not once per object (issue 24, fault-sweep finding 6: 550k ReLU layers hung in get_type_hints)."""
import pytest

from nbtrain.errors import NbtrainError
from nbtrain.spec import TrainSpec, base

CAP = "more than the 10000 a spec may hold (build a model this large in Python and pass it to fit(model=...))"


def test_the_layer_count_is_checked_before_any_layer_is_parsed():
    spec = TrainSpec.default().to_dict()
    spec["model"]["layers"] = [{"type": "NoSuchLayer"}] + [{"type": "ReLU"}] * 549_999   # a parse would fail at [0]
    with pytest.raises(NbtrainError) as e:
        TrainSpec.from_dict(spec)
    assert str(e.value) == f"model.layers: 550000 layers, {CAP}"
    n = len(TrainSpec.default().model.layers) + 10_001
    with pytest.raises(NbtrainError) as e:                                                 # from a JSON file's text too
        TrainSpec.from_json(TrainSpec.default().to_json().replace('"layers": [', '"layers": [' + '{"type": "ReLU"}, ' * 10_001, 1))
    assert str(e.value) == f"model.layers: {n} layers, {CAP}"


def test_type_hints_are_worked_out_once_per_class(monkeypatch):
    calls = []
    real = base.typing.get_type_hints
    monkeypatch.setattr(base.typing, "get_type_hints", lambda cls: calls.append(cls) or real(cls))
    base._fields_of.cache_clear()
    spec = TrainSpec.default().to_dict()
    spec["model"]["layers"] = [{"type": "Linear", "out_features": 4}, {"type": "ReLU"}] * 500
    assert len(TrainSpec.from_dict(spec).model.layers) == 1000
    assert len(calls) == len(set(calls)) and sum(c.__name__ == "LayerSpec" for c in calls) == 1
