"""LayerBuilder driven in-process: rows, buttons, per-row summary, the row at fault, presets, code."""
import pytest

from nbtrain.build.model import build_model
from nbtrain.spec import LayerSpec, ModelSpec, TrainSpec
from nbtrain.widgets import LayerBuilder
from nbtrain.widgets.presets import PRESETS


def _types(b):
    return [l.type for l in b.spec.layers]


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_build_and_round_trip(name):
    spec = PRESETS[name](10)
    b = LayerBuilder(spec, (1, 28, 28))
    assert b.spec == spec and b.error == ""
    assert tuple(build_model(b.spec, (1, 28, 28))(__import__("torch").zeros(2, 1, 28, 28)).shape) == (2, 10)
    assert LayerBuilder(ModelSpec.from_json(b.spec.to_json()), (1, 28, 28)).spec == spec


def test_round_trip_keeps_names_inits_and_global_init():
    spec = ModelSpec(layers=[LayerSpec("Flatten", "flat"), LayerSpec("Linear", "fc", init="xavier_uniform",
                                                                     params={"out_features": 3, "bias": False})],
                     init="kaiming_normal", init_params={"nonlinearity": "relu"})
    b = LayerBuilder(spec, (4,))
    assert b.spec == spec and b.error == ""


def test_rows_show_output_shape_and_parameter_count():
    b = LayerBuilder(TrainSpec.default().model, (1, 28, 28))
    assert "\u2192 8\u00d728\u00d728 \u00b7 80 params" in b.rows.rows[0].info.value
    assert "\u2192 784 \u00b7 0 params" in b.rows.rows[6].info.value
    assert "<b>52,138</b> parameters" in b.totals.value


def test_buttons_insert_delete_move_duplicate():
    b = LayerBuilder(PRESETS["MLP"](10), (1, 28, 28))
    assert _types(b) == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    b.rows.rows[2].buttons["delete"].click()
    assert _types(b) == ["Flatten", "Linear", "Linear", "ReLU", "Linear"]
    b.rows.add_type.value = "Dropout"
    b.rows.rows[2].buttons["insert"].click()
    assert _types(b) == ["Flatten", "Linear", "Dropout", "Linear", "ReLU", "Linear"]
    b.rows.rows[2].buttons["down"].click()
    assert _types(b) == ["Flatten", "Linear", "Linear", "Dropout", "ReLU", "Linear"]
    b.rows.rows[3].buttons["up"].click()
    b.rows.rows[1].buttons["duplicate"].click()
    assert _types(b) == ["Flatten", "Linear", "Linear", "Dropout", "Linear", "ReLU", "Linear"]
    assert b.spec.layers[1] == b.spec.layers[2]
    assert b.rows.rows[0].buttons["up"].disabled and b.rows.rows[-1].buttons["down"].disabled
    b.rows.add_button.click()
    assert b.spec.layers[-1] == LayerSpec("Dropout") and b.error == ""
    assert [r.index.value for r in b.rows.rows[:2]] == ["<b>0</b>", "<b>1</b>"]


def test_editing_a_row_changes_spec_and_code():
    b = LayerBuilder(PRESETS["MLP"](10), (1, 28, 28))
    assert b.code.layout.display == "none" and b.code.value == ""     # the code shows on demand
    b.show_code.value = True
    b.rows.rows[1].params.fields["out_features"].input.value = 32
    b.rows.rows[1].type.value = "Linear"
    assert b.spec.layers[1].params == {"out_features": 32}
    assert "nn.Linear(in_features=784, out_features=32)" in b.code.value
    b.rows.rows[2].type.value = "GELU"
    assert b.spec.layers[2] == LayerSpec("GELU") and "nn.GELU()" in b.code.value
    b.rows.rows[1].init.value = "xavier_normal"
    assert b.spec.layers[1].init == "xavier_normal"


def test_the_row_at_fault_is_highlighted_and_the_spec_kept():
    spec = TrainSpec.default().model
    b = LayerBuilder(spec, (1, 28, 28))
    b.rows.rows[7].params.fields["in_features"].input.value = "100"
    msg = "model.layers[7] (Linear): expects 100 input features, got 784 (set in_features to 784 or 'auto')"
    assert b.error == msg and b.spec == spec
    assert [i for i, r in enumerate(b.rows.rows) if r.layout.border] == [7]
    assert "expects 100 input features" in b.rows.rows[7].message.value
    assert "\u2192 784 " in b.rows.rows[6].info.value               # rows before the fault keep their shapes
    assert b.message.value == ""                                    # the error shows once: on its row
    b.rows.rows[7].params.fields["in_features"].input.value = "784"
    assert b.error == "" and not any(r.layout.border for r in b.rows.rows)
    b.input_shape = (3, 32, 32)                                     # a new input shape re-checks every row
    assert b.error.startswith("model.layers[7] (Linear): expects 784 input features, got 1024")


def test_names_make_an_ordered_dict_model():
    b = LayerBuilder(PRESETS["MLP"](10), (1, 28, 28))
    b.show_code.value = True
    b.rows.rows[0].name.value = "flat"
    assert b.error.startswith("layers[1].name: some layers are named and this one is not")
    assert [i for i, r in enumerate(b.rows.rows) if r.layout.border] == [1]
    for i, r in enumerate(b.rows.rows[1:], 1):
        r.name.value = f"l{i}"
    assert b.error == "" and [l.name for l in b.spec.layers] == ["flat", "l1", "l2", "l3", "l4", "l5"]
    assert "OrderedDict" in b.code.value and "(&#x27;l1&#x27;, nn.Linear(" in b.code.value
    b.rows.rows[1].buttons["duplicate"].click()                    # a copy gets a fresh name
    assert b.error == "" and b.spec.layers[2].name == "l6"
    b.rows.rows[2].name.value = "l1"
    assert b.error == ("layers[2].name: layer name 'l1' is repeated (give each layer a unique name without dots)")


def test_preset_button_replaces_the_layers():
    b = LayerBuilder(ModelSpec(), (1, 28, 28), num_classes=4)
    b.preset.value = "LeNet-5"
    b.load_preset.click()
    assert b.spec == PRESETS["LeNet-5"](4) and b.spec.layers[-1].params["out_features"] == 4


def test_a_row_shows_its_inline_parameters_and_opens_the_rest():
    b = LayerBuilder(TrainSpec.default().model, (1, 28, 28))
    row = b.rows.rows[0]
    assert [f.param.name for f in row._editor.inline_fields] == ["out_channels", "kernel_size"]
    assert row.inline_box.children == tuple(row._editor.inline_fields)
    assert set(row._editor._fields) == {"out_channels", "kernel_size"}      # the others are made when opened
    assert row.params_box.layout.display == "none"
    row.more.value = True
    assert row.params_box.layout.display == "" and "padding" in row._editor._fields
    row._editor.inline_fields[0].input.value = 12                   # an inline edit changes the spec
    assert b.spec.layers[0].params["out_channels"] == 12 and "12\u00d728\u00d728" in row.info.value
    row._editor.fields["padding"].input.value = "0"
    assert b.spec.layers[0].params["padding"] == 0 and "12\u00d726\u00d726" in row.info.value
    flatten = b.rows.rows[6]
    assert flatten.params.fields["start_dim"].input.value == 1       # reading .params makes them too
    icons = [btn.icon for btn in row.buttons.values()]
    assert icons == ["plus", "arrow-up", "arrow-down", "copy", "trash"] and all(not x.description for x in
                                                                                 row.buttons.values())


def test_every_catalog_entry_names_its_inline_parameters():
    from nbtrain.spec.catalog import LAYERS, TRANSFORMS
    from nbtrain.spec.catalog.inline import INLINE
    for table in (LAYERS, TRANSFORMS):
        assert set(INLINE[table.kind]) == set(table), table.kind
        for e in table.values():
            assert all(e.param(n) is not None for n in e.inline), e.name
            assert len(e.inline) <= 3 and (e.inline or not [p for p in e.params if p.required]), e.name


def test_fix_buttons_fix_the_error_they_name():
    b = LayerBuilder(TrainSpec.default().model, (1, 28, 28))
    b.rows.rows[7].params.fields["in_features"].input.value = "100"
    row = b.rows.rows[7]
    assert row.fix.description == "Set in_features to 784" and row.fix.layout.display == ""
    row.fix.click()
    assert b.error == "" and b.spec.layers[7].params["in_features"] == 784
    b.input_shape = (4,)                                             # tabular data under a conv net
    assert b.error.startswith("model.layers[0] (Conv2d): needs input of shape (C, H, W), got (4,)")
    assert b.rows.rows[0].fix.description == "Use MLP preset"
    b.rows.rows[0].fix.click()
    assert b.error == "" and b.spec == PRESETS["MLP"](10)


def test_a_linear_on_images_is_offered_a_flatten():
    spec = TrainSpec.default().model
    del spec.layers[6]                                               # no Flatten: Linear acts on the last dim
    b = LayerBuilder(spec, (1, 28, 28))
    assert b.error == "" and b.output_shape == (16, 7, 10)
    why = b.check_classes(10)
    assert why.startswith("the model gives outputs of shape (16, 7, 10) but the data has 10 classes")
    row = b.rows.rows[6]
    assert row.fix.description == "Add Flatten" and "add Flatten before it" in row.message.value
    assert b.diagram_blocks[6]["error"] and not b.diagram_blocks[5]["error"]
    row.fix.click()
    assert [l.type for l in b.spec.layers][6] == "Flatten" and b.check_classes(10) == ""


def test_the_diagram_has_a_block_per_row_and_a_click_opens_its_row():
    b = LayerBuilder(TrainSpec.default().model, (1, 28, 28))
    blocks = b.diagram_blocks
    assert [x["shape"] for x in blocks[:3]] == ["8\u00d728\u00d728", "8\u00d728\u00d728", "8\u00d714\u00d714"]
    assert blocks[0]["size"] == 8 * 28 * 28 and blocks[-1]["shape"] == "10"
    assert b.diagram.html.count("data-row=") == 10
    b.rows.add_button.click()
    assert b.diagram.html.count("data-row=") == 11                  # the diagram follows the rows
    b.diagram.selected = 3
    assert b.rows.rows[3].params_box.layout.display == "" and "nbtrain-selected" in b.rows.rows[3]._dom_classes


def test_the_resnet_preset_and_a_residual_rows_body_edited_as_rows():
    """Seed 004's blocks as Residual rows (shapes and counts on their lines); opening one shows its body as rows,
    and editing those rows changes the block in the spec and its shape."""
    b = LayerBuilder(ModelSpec(), (1, 8, 8), num_classes=10)
    b.preset.value = "ResNet block (seed 004)"
    b.load_preset.click()
    assert b.error == "" and [l.type for l in b.spec.layers][3:6] == ["Residual"] * 3
    assert "\u2192 32\u00d74\u00d74 \u00b7 18,624 params" in b.rows.rows[4].info.value
    assert "<b>98,234</b> parameters" in b.totals.value
    row = b.rows.rows[3]
    row.more.value = True
    body = row.body_rows
    assert [r.type.value for r in body.rows] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert row.params.fields["body"].layout.display == "none"          # the rows stand for its JSON
    body.rows[2].type.value = "GELU"
    assert b.error == "" and b.spec.layers[3].params["body"][2] == {"type": "GELU", "name": "", "init": ""}
    body.rows[3].params.fields["out_channels"].input.value = 8      # the body now changes the shape
    assert b.error == ("model.layers[3] (Residual): the body turns (16, 8, 8) into (8, 8, 8): the input cannot be "
                       "added as it is (set shortcut to 'auto' (a projection), or make the body keep the shape)")
    assert row.layout.border
    row.params.fields["shortcut"].input.value = "auto"
    assert b.error == ""
    assert b.spec.layers[3].params["shortcut"] == "auto" and "\u2192 8\u00d78\u00d78" in row.info.value


def test_a_torchvision_resnet18_row_counts_torchvisions_parameters():
    import torchvision
    b = LayerBuilder(ModelSpec(layers=[LayerSpec("Flatten")]), (3, 32, 32))
    b.rows.rows[0].type.value = "TorchvisionModel"
    n = sum(p.numel() for p in torchvision.models.resnet18(weights=None, num_classes=1000).parameters())
    assert b.error == "" and f"\u2192 1000 \u00b7 {n:,} params" in b.rows.rows[0].info.value
    b.rows.rows[0].params.fields["num_classes"].input.value = 10
    assert b.spec.layers[0].params == {"num_classes": 10} and b.output_shape == (10,)
    assert f"<b>{n - 513 * 990:,}</b> parameters" in b.totals.value      # fc: 512 x 10 + 10 instead of x 1000
    b.input_shape = (1, 28, 28)
    assert b.error.startswith("model.layers[0] (TorchvisionModel): takes 3-channel (RGB) images, got 1 channel")
