"""OptimizerPicker and SchedulerPicker driven in-process: spec, code and the LR curve image."""
import pytest
import torch
from traitlets import TraitError

from nbtrain.build.optim import lr_curve
from nbtrain.spec import OptimSpec, ParamGroupSpec, SchedSpec
from nbtrain.train.lrfind import LRFindResult
from nbtrain.widgets import OptimizerPicker, SchedulerPicker


@pytest.mark.parametrize("spec", [
    OptimSpec(),
    OptimSpec("SGD", lr=0.01, params={"momentum": 0.9, "nesterov": True},
              groups=[ParamGroupSpec("fc*", lr=1e-3), ParamGroupSpec("0", weight_decay=0.0)]),
    OptimSpec("AdamW", lr=3e-4, params={"betas": [0.9, 0.95], "weight_decay": 0.05}),
])
def test_optimizer_picker_round_trips_a_spec(spec):
    p = OptimizerPicker(spec)
    assert p.spec == spec and p.error == ""
    assert OptimizerPicker(OptimSpec.from_json(p.spec.to_json())).spec == spec


def test_optimizer_picker_edits_type_lr_params_and_groups():
    p = OptimizerPicker()
    p.type.value = "SGD"
    p.lr.value = 0.05
    p.params.fields["momentum"].input.value = 0.9
    p.add_group.click()
    row = p.group_rows[0]
    row.pattern.value = "fc*"
    row.lr.value = "1e-3"
    assert p.spec == OptimSpec("SGD", lr=0.05, params={"momentum": 0.9}, groups=[ParamGroupSpec("fc*", lr=1e-3)])
    assert "torch.optim.SGD([" in p.code.value and "&quot;lr&quot;: 0.001" in p.code.value
    row.delete.click()
    assert p.spec.groups == [] and "torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)" in p.code.value


def test_optimizer_picker_bad_values_keep_the_last_valid_spec():
    p = OptimizerPicker(OptimSpec("Adam", lr=1e-3))
    p.lr.value = 0.0
    assert p.error == "lr: must be > 0, got 0 (set lr to a value > 0, e.g. 1e-3)"
    assert p.spec.lr == 1e-3 and "must be &gt; 0" in p.message.value
    p.lr.value = 2e-3
    p.add_group.click()
    p.group_rows[0].lr.value = "-1"
    assert p.error == "groups[0]: lr: must be > 0, got -1 (set lr to a value > 0, e.g. 1e-3)"
    assert p.spec == OptimSpec("Adam", lr=2e-3, groups=[ParamGroupSpec("*")])     # the group as added
    p.group_rows[0].lr.value = ""
    assert p.error == "" and p.spec.groups == [ParamGroupSpec("*")]


@pytest.mark.parametrize("spec", [
    SchedSpec(),
    SchedSpec("OneCycleLR", params={"max_lr": 0.1, "pct_start": 0.25}),
    SchedSpec("StepLR", params={"step_size": 2, "gamma": 0.5}, warmup=1, warmup_start_factor=0.2),
    SchedSpec("CosineAnnealingLR", swa=True, swa_start=3, swa_lr=0.01),
    SchedSpec("LambdaLR", params={"expr": "0.9 ** epoch"}, interval="epoch"),
])
def test_scheduler_picker_round_trips_a_spec(spec):
    p = SchedulerPicker(spec, epochs=5, steps_per_epoch=4)
    assert p.spec == spec and p.error == ""
    assert SchedulerPicker(SchedSpec.from_json(p.spec.to_json())).spec == spec


def test_scheduler_picker_redraws_the_lr_curve_on_every_change():
    p = SchedulerPicker(SchedSpec("StepLR", params={"step_size": 2}), OptimSpec(lr=0.1), epochs=6, steps_per_epoch=5)
    first = p.image.png
    assert first.startswith(b"\x89PNG")
    p.params.fields["gamma"].input.value = 0.5
    assert p.spec.params == {"step_size": 2, "gamma": 0.5}
    second = p.image.png
    assert second != first
    p.type.value = "OneCycleLR"
    assert p.spec == SchedSpec("OneCycleLR", params={"max_lr": 0.01}) and p.image.png != second
    assert "lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=30)" in p.code.value
    third = p.image.png
    p.steps_per_epoch.value = 10                       # preview settings redraw too
    assert p.image.png != third and "total_steps=60" in p.code.value
    p.optim_spec = OptimSpec(lr=0.1, groups=[ParamGroupSpec("0", lr=0.01)])
    assert len(p.plot.lines) == 2 and p.plot.lines[1].get_visible()
    assert list(p.plot.lines[0].get_ydata()) == lr_curve(p.optim_spec, p.spec, 6, 10)[0]


def test_a_refused_spec_leaves_the_scheduler_picker_listening():
    p = SchedulerPicker(SchedSpec("StepLR", params={"step_size": 2}), OptimSpec(lr=0.1), epochs=6, steps_per_epoch=5)
    with pytest.raises(TraitError, match="Invalid selection"):
        p.spec = SchedSpec("NoSuchScheduler")                 # the type dropdown refuses it
    p.type.value = "OneCycleLR"                              # still edits and redraws
    assert p.spec == SchedSpec("OneCycleLR", params={"max_lr": 0.01})
    assert "lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=30)" in p.code.value


def test_scheduler_picker_warmup_swa_and_errors():
    p = SchedulerPicker(SchedSpec("StepLR", params={"step_size": 2}), epochs=5, steps_per_epoch=4)
    p.fields.inputs["warmup"].value = 2
    p.fields.inputs["swa"].value = True
    p.fields.inputs["swa_start"].value = 3
    assert (p.spec.warmup, p.spec.swa, p.spec.swa_start) == (2, True, 3)
    assert "SequentialLR" in p.code.value
    p.fields.inputs["warmup_start_factor"].value = 0.0
    assert p.error == "warmup_start_factor: must be in (0, 1], got 0" and p.spec.warmup_start_factor == 0.1
    assert "must be in (0, 1]" in p.fields.messages["warmup_start_factor"].value
    p.fields.inputs["warmup_start_factor"].value = 0.5
    assert p.error == ""
    p.fields.inputs["warmup"].value = 9                # longer than the 5 epochs previewed
    assert p.error == ("sched.warmup: warm-up of 9 steps is not shorter than the 5 scheduler steps of the run "
                       "(use a warm-up below 5 (epochs))")
    assert p.spec.warmup == 2                           # the last spec that runs is kept
    p.epochs.value = 12                                 # a longer run makes it valid
    assert p.error == "" and p.spec.warmup == 9


LRS = [10.0 ** (e / 4) for e in range(-24, 1)]


def _result(suggestion: float = 0.0316) -> LRFindResult:
    return LRFindResult(LRS, [2.0 - 0.01 * i for i in range(len(LRS))], suggestion=suggestion)


def test_scheduler_picker_offers_the_lr_finder_beside_max_lr():
    p = SchedulerPicker(SchedSpec("OneCycleLR", params={"max_lr": 0.01}), epochs=2, steps_per_epoch=3)
    line = p.max_lr_line
    assert line in p.params.fields["max_lr"].children                # beside the field it sets
    line.find_button.click()
    assert "needs a model and data" in line.message.value and line.use_button.disabled
    p.lr_finder = _result
    line.find_button.click()
    assert p.suggested_lr == 0.0316 and p.finder.image.png.startswith(b"\x89PNG")
    assert not line.use_button.disabled and line.use_button.description == "use 0.0316"
    assert line.use_button.tooltip == "set max_lr to the LR finder's suggestion"
    line.use_button.click()
    assert p.spec.params["max_lr"] == 0.0316
    p.type.value = "StepLR"                                           # no max_lr: no line in the tab
    assert all(line not in f.children for f in p.params.fields.values())
    p.type.value = "CyclicLR"
    assert line in p.params.fields["max_lr"].children and not line.use_button.disabled
    line.use_button.click()
    assert p.spec.params["max_lr"] == 0.0316


def test_optimizer_picker_offers_the_lr_finder_beside_lr():
    p = OptimizerPicker(OptimSpec("SGD", lr=0.1), lr_finder=lambda: _result(0.00123456))
    row = next(c for c in p.children if p.lr in getattr(c, "children", ()))
    assert p.lr_line in row.children                                 # on the lr field's line
    p.lr_line.find_button.click()
    assert "suggested lr: <b>0.00123</b>" in p.lr_line.message.value
    p.lr_line.use_button.click()
    assert p.spec == OptimSpec("SGD", lr=0.00123)


def test_a_shared_finder_offers_its_suggestion_on_every_line():
    from nbtrain.widgets.lrfind import LRFinder
    finder = LRFinder(_result)
    o = OptimizerPicker(OptimSpec("Adam", lr=1e-3), finder=finder)
    s = SchedulerPicker(SchedSpec("OneCycleLR", params={"max_lr": 0.01}), finder=finder)
    s.max_lr_line.find_button.click()                                  # run from the Schedule tab ...
    assert not o.lr_line.use_button.disabled                          # ... offered beside lr too
    o.lr_line.use_button.click()
    assert o.spec.lr == 0.0316 and s.spec.params["max_lr"] == 0.01
    assert finder.image not in s.children and finder.image in o.children   # the curve once, in the Optimizer tab


@pytest.fixture
def default_lrs():
    """torch's own default lr of each optimizer, read from its signature: what the catalog must give."""
    import inspect
    return {n: inspect.signature(getattr(torch.optim, n)).parameters["lr"].default
            for n in ("Adam", "Adagrad", "Adadelta", "RMSprop")} | {"SGD": 0.01}    # SGD's torch default is 1e-3


def test_a_new_optimizer_type_brings_its_default_lr_until_the_user_sets_lr(default_lrs):
    p = OptimizerPicker(OptimSpec("Adam", lr=3e-4))
    p.type.value = "Adagrad"                          # lr not edited: the new type's default
    assert p.spec.lr == default_lrs["Adagrad"] and p.lr.value == default_lrs["Adagrad"]
    p.type.value = "Adadelta"
    assert p.spec.lr == default_lrs["Adadelta"]
    p.lr.value = 0.5                                  # the user's lr stays through the next type change
    p.type.value = "RMSprop"
    assert p.spec == OptimSpec("RMSprop", lr=0.5)
    p.type.value = "SGD"                              # not edited since that change: the default again
    assert p.spec.lr == default_lrs["SGD"]
    p.lr_finder = lambda: _result(0.02)
    p.lr_line.find_button.click()
    p.lr_line.use_button.click()                      # the finder's suggestion is the user's choice too
    p.type.value = "Adam"
    assert p.spec == OptimSpec("Adam", lr=0.02)
    p.spec = OptimSpec("SGD", lr=0.07)                # a loaded spec's lr is kept as loaded ...
    assert p.spec.lr == 0.07
    p.type.value = "Adagrad"                          # ... and follows the type like the default's
    assert p.spec.lr == default_lrs["Adagrad"]


def test_scheduler_picker_keeps_a_field_error_shown_across_preview_changes():
    p = SchedulerPicker(SchedSpec("StepLR", params={"step_size": 2}), epochs=5, steps_per_epoch=4)
    p.fields.inputs["swa_lr"].value = -1.0
    assert p.error == "swa_lr: must be >= 0, got -1"
    png = p.image.png
    p.steps_per_epoch.value = 8
    assert p.error == "swa_lr: must be >= 0, got -1" and "must be &gt;= 0" in p.message.value
    assert p.image.png != png and p.spec == SchedSpec("StepLR", params={"step_size": 2})
