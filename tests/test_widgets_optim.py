"""OptimizerPicker and SchedulerPicker driven in-process: spec, code and the LR curve image."""
import pytest
from traitlets import TraitError

from nbtrain.lrfind import LRFindResult
from nbtrain.optim import lr_curve
from nbtrain.spec import OptimSpec, ParamGroupSpec, SchedSpec
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
    first = bytes(p.image.value)
    assert first.startswith(b"\x89PNG")
    p.params.fields["gamma"].input.value = 0.5
    assert p.spec.params == {"step_size": 2, "gamma": 0.5}
    second = bytes(p.image.value)
    assert second != first
    p.type.value = "OneCycleLR"
    assert p.spec == SchedSpec("OneCycleLR", params={"max_lr": 0.01}) and bytes(p.image.value) != second
    assert "lr_scheduler.OneCycleLR(optimizer, max_lr=0.01, total_steps=30)" in p.code.value
    third = bytes(p.image.value)
    p.steps_per_epoch.value = 10                       # preview settings redraw too
    assert bytes(p.image.value) != third and "total_steps=60" in p.code.value
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


def test_scheduler_picker_lr_finder_button_sets_max_lr():
    p = SchedulerPicker(SchedSpec("OneCycleLR", params={"max_lr": 0.01}), epochs=2, steps_per_epoch=3)
    p.find_button.click()
    assert "needs a model and data" in p.find_message.value and p.use_button.disabled
    lrs = [10.0 ** (e / 4) for e in range(-24, 1)]
    p.lr_finder = lambda: LRFindResult(lrs, [2.0 - 0.01 * i for i in range(len(lrs))], suggestion=0.0316)
    p.find_button.click()
    assert p.suggested_lr == 0.0316 and bytes(p.find_image.value).startswith(b"\x89PNG")
    assert not p.use_button.disabled
    p.use_button.click()
    assert p.spec.params["max_lr"] == 0.0316


def test_scheduler_picker_keeps_a_field_error_shown_across_preview_changes():
    p = SchedulerPicker(SchedSpec("StepLR", params={"step_size": 2}), epochs=5, steps_per_epoch=4)
    p.fields.inputs["swa_lr"].value = -1.0
    assert p.error == "swa_lr: must be >= 0, got -1"
    png = bytes(p.image.value)
    p.steps_per_epoch.value = 8
    assert p.error == "swa_lr: must be >= 0, got -1" and "must be &gt;= 0" in p.message.value
    assert bytes(p.image.value) != png and p.spec == SchedSpec("StepLR", params={"step_size": 2})
