"""build_data on the offline built-ins: shapes, dtypes, ranges, seeded order, splits, sharding, the fast path."""
import numpy as np
import pytest
import torch

from nbtrain import DataSpec, NbtrainError, TrainSpec, build_data, normalize_stats, sample_grid
from nbtrain import TransformSpec as T
from nbtrain.errors import DataError


def _batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def _same(a, b):
    assert len(a) == len(b)
    for (x1, y1), (x2, y2) in zip(a, b):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_default_digits_bundle():
    b = build_data(TrainSpec.default().data)
    assert b.input_shape == (1, 28, 28)
    assert (b.task, b.num_classes, b.class_names) == ("classification", 10, [str(i) for i in range(10)])
    assert b.fast  # digits with ToTensor + Normalize takes the fast path automatically
    # 1797 digits, 20% held out: 1438 + 359 (random_split gives the remainder to train); batches of 64
    assert len(b.train) == 23 and len(b.val) == 6
    xs, ys = zip(*_batches(b.train))
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.shape == (1438, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    # Normalize with the digits' own statistics: about mean 0, std 1 over the training split
    assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-2
    assert sum(len(yb) for _, yb in b.val) == 359


def test_default_normalize_stats_are_the_digits_statistics():
    d = TrainSpec.default().data
    mean, std = normalize_stats(DataSpec())
    norm = d.train_transforms[1]
    assert norm.type == "Normalize" and norm.params == {"mean": mean, "std": std}
    assert d.val_transforms[1].params == norm.params
    # cross-check by hand: the training split's pixels as ToTensor gives them
    b = build_data(DataSpec(in_memory="off"))
    x = torch.cat([xb for xb, _ in b.train])
    assert 0 <= x.min() and x.max() <= 1
    assert mean == [pytest.approx(x.mean().item(), abs=1e-4)]
    assert std == [pytest.approx(x.std(unbiased=False).item(), abs=1e-4)]


def test_empty_pipeline_implies_to_tensor():
    b = build_data(DataSpec(image_size=0, batch_size=32))
    x, y = next(iter(b.train))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9


@pytest.mark.parametrize("in_memory", ["auto", "off"])
def test_same_seed_same_batches_and_a_new_order_each_epoch(in_memory):
    spec = DataSpec(in_memory=in_memory, seed=3)
    a, b = build_data(spec), build_data(spec)
    ea1, ea2 = _batches(a.train), _batches(a.train)
    _same(ea1, _batches(b.train))
    _same(ea2, _batches(b.train))
    assert not torch.equal(ea1[0][1], ea2[0][1])               # reshuffled between epochs
    other = _batches(build_data(DataSpec(in_memory=in_memory, seed=4)).train)
    assert not torch.equal(ea1[0][1], other[0][1])
    # no shuffle: the split's own order, every epoch
    c = build_data(DataSpec(in_memory=in_memory, shuffle=False))
    _same(_batches(c.train), _batches(c.train))


def test_val_split_is_seeded_and_disjoint():
    def split(seed):
        b = build_data(DataSpec(seed=seed, val_split=0.25))
        return b.train_set.indices.tolist(), b.val_set.indices.tolist()
    tr, va = split(1)
    assert (len(tr), len(va)) == (1348, 449)
    assert sorted(tr + va) == list(range(1797))
    assert split(1) == (tr, va)
    assert split(2)[1] != va


def test_generator_state_restores_the_batch_order():
    b = build_data(DataSpec())
    _batches(b.train)
    state = b.train_generator.get_state()
    nxt = _batches(b.train)
    b.train_generator.set_state(state)
    _same(_batches(b.train), nxt)


def test_generator_state_restores_augmented_fast_batches():
    """On the fast path the crops and flips draw from train_generator too: its state alone resumes exactly."""
    aug = [T("ToTensor"), T("RandomCrop", {"size": 28, "padding": 4}), T("RandomHorizontalFlip")]
    b = build_data(DataSpec(train_transforms=aug, val_transforms=[T("ToTensor")]))
    assert b.fast
    _batches(b.train)
    state = b.train_generator.get_state()
    nxt = _batches(b.train)
    b.train_generator.set_state(state)
    torch.manual_seed(123)                                   # the global RNG plays no part
    _same(_batches(b.train), nxt)


DET = [T("Resize", {"size": 32}), T("CenterCrop", {"size": 30}), T("ToTensor"),
       T("Normalize", {"mean": [0.3], "std": [0.3]})]


@pytest.mark.parametrize("drop_last", [False, True])
def test_fast_path_yields_exactly_the_dataloader_batches(drop_last):
    spec = DataSpec(train_transforms=DET, val_transforms=DET, batch_size=50, drop_last=drop_last)
    fast, slow = build_data(spec), build_data(DataSpec.from_dict({**spec.to_dict(), "in_memory": "off"}))
    assert fast.fast and not slow.fast and slow.why_not_fast == "in_memory='off'"
    assert type(slow.train).__name__ == "DataLoader"
    assert fast.input_shape == slow.input_shape == (1, 30, 30)
    for _ in range(2):  # two epochs: the generator advances the same way in both
        _same(_batches(fast.train), _batches(slow.train))
        _same(_batches(fast.val), _batches(slow.val))
    assert torch.equal(fast.train_generator.get_state(), slow.train_generator.get_state())
    px, py = fast.probe(5)
    assert px.shape == (5, 1, 30, 30) and torch.equal(px, slow.probe(5)[0]) and torch.equal(py, slow.probe(5)[1])
    assert torch.equal(px, next(iter(slow.val))[0][:5])       # the first validation samples


def test_fast_path_random_crop_and_flip_are_crops_of_the_padded_image():
    aug = [T("ToTensor"), T("RandomCrop", {"size": 28, "padding": 4}), T("RandomHorizontalFlip"),
           T("Normalize", {"mean": [0.5], "std": [0.5]})]
    spec = DataSpec(train_transforms=aug, shuffle=False, batch_size=200)
    b = build_data(spec)
    assert b.fast
    x, _ = next(iter(b.train))
    ref = torch.cat([b.train_set.base.x[b.train_set.indices[:200]].float() / 255], 0)
    ref = torch.nn.functional.pad(ref, (4, 4, 4, 4))
    x = x * 0.5 + 0.5                                           # undo Normalize
    crops = torch.nn.functional.unfold(ref, 28).transpose(1, 2)           # (200, 81 offsets, 784)
    plain = (crops - x.flatten(1)[:, None]).abs().amax(-1) < 1e-6         # (200, 81): x is this crop
    mirror = (crops - x.flip(-1).flatten(1)[:, None]).abs().amax(-1) < 1e-6
    assert (plain | mirror).any(1).all(), "every sample is a crop of its padded image, maybe mirrored"
    flipped = (mirror.any(1) & ~plain.any(1)).sum()
    shifted = (~(plain | mirror)[:, 40]).sum()                          # offset (4, 4) is the unshifted image
    assert 60 < flipped < 140 and shifted > 150                # p=0.5 flips; 80 of 81 offsets move the image
    # seeded: the same spec gives the same augmented batches
    _same(_batches(build_data(spec).train), _batches(build_data(spec).train))


def test_auto_falls_back_to_the_dataloader_for_other_random_transforms():
    spec = DataSpec(train_transforms=[T("RandomRotation", {"degrees": 10}), T("ToTensor")])
    b = build_data(spec)
    assert not b.fast and b.why_not_fast == "data.train_transforms[0] (RandomRotation) is random and has no vectorized form"
    x, _ = next(iter(b.train))
    assert x.shape == (64, 1, 28, 28)
    spec.in_memory = "on"
    with pytest.raises(DataError) as e:
        build_data(spec)
    assert str(e.value) == ("data.in_memory: the fast in-memory path cannot run this: data.train_transforms[0] "
                            "(RandomRotation) is random and has no vectorized form (set in_memory='auto' to fall back "
                            "to the DataLoader, or use only RandomCrop and flips as random transforms)")


def test_random_val_transforms_refused_unless_asked():
    spec = DataSpec(val_transforms=[T("ToTensor"), T("RandomHorizontalFlip")])
    with pytest.raises(DataError) as e:
        build_data(spec)
    assert str(e.value) == ("data.val_transforms[1] (RandomHorizontalFlip): random transform in the validation "
                            "pipeline (remove it from val_transforms, or set random_val=True to allow it)")
    spec.random_val = True
    assert build_data(spec).input_shape == (1, 28, 28)


def test_sharding_splits_the_training_set_across_ranks():
    spec = DataSpec(batch_size=100)
    shards = [build_data(spec, rank=r, world_size=3) for r in range(3)]

    def rows(b, epoch):
        b.set_epoch(epoch)
        return torch.cat([x.flatten(1) for x, _ in b.train])

    full = torch.cat([x.flatten(1) for x, _ in build_data(DataSpec(shuffle=False)).train])
    for b in shards:
        assert len(b.train) == 5                                      # ceil(1438 / 3) = 480 samples per rank
    for epoch in (0, 1):
        parts = [rows(b, epoch) for b in shards]
        assert [len(p) for p in parts] == [480, 480, 480]
        union = torch.unique(torch.cat(parts), dim=0)                 # together the ranks cover the split
        assert union.shape[0] == torch.unique(full, dim=0).shape[0]
    assert not torch.equal(rows(shards[0], 0), rows(shards[0], 1))   # set_epoch reshuffles
    assert torch.equal(rows(shards[0], 1), rows(build_data(spec, rank=0, world_size=3), 1))
    assert not torch.equal(rows(shards[0], 1), rows(shards[1], 1))


@pytest.mark.parametrize("name, features, classes", [("iris", 4, 3), ("wine", 13, 3), ("breast_cancer", 30, 2)])
def test_tabular_sets(name, features, classes):
    b = build_data(DataSpec(dataset=name, batch_size=16))
    assert b.input_shape == (features,) and b.num_classes == classes == len(b.class_names)
    x = torch.cat([x for x, _ in b.train])
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean(0), torch.zeros(features), atol=1e-4)   # standardized with the train statistics
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(features), atol=1e-4)
    raw = build_data(DataSpec(dataset=name, standardize=False))
    assert torch.cat([x for x, _ in raw.train]).mean() > 1


def test_tabular_refuses_image_transforms():
    with pytest.raises(DataError) as e:
        build_data(DataSpec(dataset="iris", train_transforms=[T("ToTensor")]))
    assert str(e.value) == ("data.train_transforms: image transforms do not apply to the tabular set 'iris' "
                            "(clear train_transforms and val_transforms (standardize=True scales the features))")


def test_synthetic_fakedata_any_shape_and_its_test_split():
    spec = DataSpec(dataset="synthetic", image_shape=[3, 12, 10], num_classes=4, size=50, batch_size=8,
                    use_test_split=True)
    b = build_data(spec)
    assert b.input_shape == (3, 12, 10) and b.num_classes == 4
    assert sum(len(y) for _, y in b.train) == 50 and sum(len(y) for _, y in b.val) == 10
    y = torch.cat([y for _, y in b.train])
    assert y.min() >= 0 and y.max() < 4
    from torchvision.datasets import FakeData
    img, label = FakeData(50, image_size=(3, 12, 10), num_classes=4)[0]
    assert torch.equal(b.train_set.base.x[0], torch.from_numpy(np.array(img)).permute(2, 0, 1))   # through FakeData
    assert torch.allclose(b.train_set[0][0], b.train_set.base.x[0] / 255)
    assert b.train_set[0][1].item() == label


@pytest.mark.parametrize("shape, offset", [((1, 8, 8), 0), ((3, 12, 10), 50), ((4, 5, 6), 7)])
def test_synthetic_images_are_fakedatas_samples_every_one(shape, offset):
    """fake_images draws each sample as FakeData does (seeded by offset + index), without FakeData: every image
    and label is the one FakeData gives, so the synthetic set (and the exported script's) did not change."""
    from torchvision.datasets import FakeData
    from torchvision.transforms import v2

    from nbtrain.build.data.plain import fake_images
    fd = FakeData(40, image_size=shape, num_classes=6, transform=v2.PILToTensor(), random_offset=offset)
    x, y = fake_images(40, shape, 6, offset)
    assert x.dtype == torch.uint8 and x.shape == (40, *shape) and y.dtype == torch.int64
    assert torch.equal(x, torch.stack([fd[i][0] for i in range(40)]))
    assert y.tolist() == [fd[i][1] for i in range(40)]


@pytest.mark.parametrize("field, value, message", [
    ("val_split", 1.0, "data.val_split: must be in (0, 1), got 1 (e.g. 0.2 holds out 20% of the samples for validation)"),
    ("val_split", 0.0, "data.val_split: must be in (0, 1), got 0 (e.g. 0.2 holds out 20% of the samples for validation)"),
    ("batch_size", 0, "data.batch_size: must be >= 1, got 0"),
    ("batch_size", -5, "data.batch_size: must be >= 1, got -5"),
    ("dataset", "digit", "data.dataset: unknown dataset 'digit' (did you mean 'digits'?)"),
    ("use_test_split", True, "data.use_test_split: digits has no test split (set use_test_split=False to hold out "
                             "val_split of the data)"),
])
def test_bad_settings(field, value, message):
    spec = DataSpec()
    setattr(spec, field, value)
    with pytest.raises(NbtrainError) as e:
        build_data(spec)
    assert str(e.value) == message
    if field != "use_test_split":  # the same message when the spec is read from JSON
        with pytest.raises(NbtrainError) as e:
            TrainSpec.from_dict({"data": {field: value}})
        assert str(e.value) == message


def test_normalize_length_must_match_the_channels():
    spec = DataSpec(train_transforms=[T("ToTensor"), T("Normalize", {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]})])
    with pytest.raises(DataError) as e:
        build_data(spec)
    assert str(e.value) == ("data.train_transforms[1] (Normalize): mean has 3 and std has 3 values for 1-channel "
                            "images (give 1 value each, one per channel (nbtrain.normalize_stats computes them))")
    spec = DataSpec(val_transforms=[T("Normalize", {"mean": [0.5], "std": [0.2]})])
    with pytest.raises(DataError) as e:
        build_data(spec)
    assert str(e.value) == ("data.val_transforms[0] (Normalize): needs a float tensor image, got uint8 "
                            "(put ToTensor before Normalize)")


def test_crop_larger_than_the_image():
    with pytest.raises(DataError) as e:
        build_data(DataSpec(train_transforms=[T("RandomCrop", {"size": 32})]))
    assert str(e.value) == ("data.train_transforms[0] (RandomCrop): crop 32x32 is larger than the 28x28 image "
                            "(set size <= 28, or Resize before it)")
    with pytest.raises(DataError) as e:
        build_data(DataSpec(train_transforms=[T("RandomCrop", {"size": 40, "padding": 4})]))
    assert str(e.value) == ("data.train_transforms[0] (RandomCrop): crop 40x40 is larger than the 28x28 (padded to "
                            "36x36) image (set size <= 36, or Resize before it)")
    with pytest.raises(DataError) as e:
        build_data(DataSpec(val_transforms=[T("CenterCrop", {"size": [20, 30]})]))
    assert str(e.value) == ("data.val_transforms[0] (CenterCrop): crop 20x30 is larger than the 28x28 image "
                            "(set size <= 28, or Resize before it)")


def test_pipelines_must_agree_on_the_shape():
    with pytest.raises(DataError) as e:
        build_data(DataSpec(train_transforms=[T("Resize", {"size": 16})]))
    assert str(e.value) == ("data.val_transforms: the train pipeline gives (1, 16, 16) samples, the val pipeline "
                            "(1, 28, 28) "
                            "(make both pipelines end at the same size (e.g. the same Resize))")


def test_sample_grid_draws_through_the_train_pipeline():
    spec = TrainSpec.default().data
    g = sample_grid(spec, n=16)
    assert g.shape == (3, 4 * 30 + 2, 4 * 30 + 2) and g.dtype == torch.float32   # 4x4 tiles of 28 + 2 padding
    assert g.min() >= 0 and g.max() <= 1
    assert torch.equal(g[0], g[1])                                               # grayscale digits
    assert torch.equal(g, sample_grid(spec, n=16))
    aug = DataSpec(train_transforms=[T("RandomRotation", {"degrees": 45})], val_transforms=[])
    assert not torch.equal(sample_grid(aug, 9), sample_grid(DataSpec(), 9))
    assert sample_grid(DataSpec(), 5).shape == (3, 2 + 2 * 30, 2 + 3 * 30)      # 3 per row, 2 rows


def test_loader_settings_reach_the_dataloader():
    spec = DataSpec(in_memory="off", num_workers=2, pin_memory=True, drop_last=True, batch_size=100)
    b = build_data(spec)
    assert (b.train.num_workers, b.train.pin_memory, b.train.drop_last, b.train.batch_size) == (2, True, True, 100)
    assert len(b.train) == 14 and not b.val.drop_last and len(b.val) == 4     # 1438 // 100; ceil(359 / 100)
    fast = build_data(DataSpec(drop_last=True, batch_size=100))
    assert len(fast.train) == 14 and all(len(y) == 100 for _, y in fast.train)
    assert fast.to("cpu").device == torch.device("cpu")


def test_normalize_stats_of_a_dataset_a_tensor_and_rgb_images():
    x = torch.zeros(4, 3, 2, 2)
    x[:, 1] = 1.0
    x[:2, 2] = 0.5
    assert normalize_stats(x) == ([0.0, 1.0, 0.25], [0.0, 0.0, 0.25])
    u8 = torch.full((2, 1, 3, 3), 255, dtype=torch.uint8)
    # scaled like ToTensor
    assert normalize_stats(torch.utils.data.TensorDataset(u8, torch.zeros(2))) == ([1.0], [0.0])
    mean, std = normalize_stats(DataSpec(dataset="synthetic", image_shape=[3, 8, 8], size=40))
    assert len(mean) == len(std) == 3 and all(0.3 < m < 0.7 for m in mean) and all(0.2 < s < 0.4 for s in std)
    with pytest.raises(DataError) as e:
        sample_grid(DataSpec(dataset="iris"))
    assert str(e.value) == "sample_grid: 'iris' is tabular, not images (use an image dataset)"


def test_building_data_leaves_the_global_rng_alone():
    """Checking a random pipeline on a sample must not change what the model's init draws next."""
    spec = DataSpec(train_transforms=[T("ToTensor"), T("RandomRotation", {"degrees": 10})])
    torch.manual_seed(0)
    want = torch.rand(3)
    torch.manual_seed(0)
    build_data(spec)
    assert torch.equal(torch.rand(3), want)
