"""mnistmax.data.datamodule: splits, the TensorBatches loader and on-device noisy batches."""

from __future__ import annotations

import pytest
import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import MNISTDataModule, TensorBatches, make_splits, noisy_batch, to_float
from mnistmax.data.sources import DataBundle
from mnistmax.data.splits import select_digits
from mnistmax.errors import DataError
from mnistmax.tasks import load_config


def indexed_bundle(labels: torch.Tensor, test: tuple | None = None) -> DataBundle:
    """A bundle whose image i carries its own index i in its first two pixels."""
    n = len(labels)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 0, 0] = torch.div(torch.arange(n), 256, rounding_mode="floor").to(torch.uint8)
    images[:, 0, 1] = (torch.arange(n) % 256).to(torch.uint8)
    test_images, test_labels = test if test is not None else (None, None)
    return DataBundle(images, labels, test_images, test_labels, "test", "indexed")


def index_of(images: torch.Tensor) -> list[int]:
    return (images[:, 0, 0].long() * 256 + images[:, 0, 1].long()).tolist()


def config(*overrides: str) -> RunConfig:
    return load_config(None, ["data.source=embedded", *overrides])


# ---------------------------------------------------------------- make_splits


def test_splits_disjoint_and_cover_embedded(embedded):
    bundle = indexed_bundle(embedded.train_labels)
    splits = make_splits(bundle, config())
    ids = {name: index_of(getattr(splits, name)[0]) for name in ("train", "val", "test")}
    assert [len(ids[n]) for n in ("train", "val", "test")] == [4050, 450, 500]
    assert set(ids["train"]).isdisjoint(ids["val"])
    assert set(ids["train"]).isdisjoint(ids["test"])
    assert set(ids["val"]).isdisjoint(ids["test"])
    assert set(ids["train"]) | set(ids["val"]) | set(ids["test"]) == set(range(5000))
    for name in ("train", "val", "test"):  # labels travel with their images
        images, labels = getattr(splits, name)
        assert torch.equal(labels, embedded.train_labels[index_of(images)])


def test_splits_of_real_digits_are_rows_of_the_bundle(embedded):
    """The same split, taken on the real digits: each split image is the bundle image it names."""
    cfg = config()
    real = make_splits(embedded, cfg)
    indexed = make_splits(indexed_bundle(embedded.train_labels), cfg)
    for name in ("train", "val", "test"):
        idx = index_of(getattr(indexed, name)[0])
        assert torch.equal(getattr(real, name)[0], embedded.train_images[idx])
        assert torch.equal(getattr(real, name)[1], embedded.train_labels[idx])


def test_test_split_is_ten_percent_per_class(embedded):
    splits = make_splits(embedded, config())
    assert torch.bincount(splits.test[1], minlength=10).tolist() == [50] * 10
    assert torch.bincount(splits.val[1], minlength=10).tolist() == [45] * 10
    assert torch.bincount(splits.train[1], minlength=10).tolist() == [405] * 10


def test_splits_depend_on_seed(embedded):
    bundle = indexed_bundle(embedded.train_labels)
    a = make_splits(bundle, config("seed=1"))
    b = make_splits(bundle, config("seed=1"))
    c = make_splits(bundle, config("seed=2"))
    assert index_of(a.test[0]) == index_of(b.test[0]) and index_of(a.val[0]) == index_of(b.val[0])
    assert index_of(a.test[0]) != index_of(c.test[0])


def test_limit_train_is_class_balanced_subset(embedded):
    bundle = indexed_bundle(embedded.train_labels)
    full = make_splits(bundle, config())
    limited = make_splits(bundle, config("data.limit_train=1000", "data.limit_test=200"))
    assert len(limited.train[0]) == 1000
    assert torch.bincount(limited.train[1], minlength=10).tolist() == [100] * 10
    assert set(index_of(limited.train[0])) <= set(index_of(full.train[0]))
    assert torch.bincount(limited.test[1], minlength=10).tolist() == [20] * 10
    assert set(index_of(limited.test[0])) <= set(index_of(full.test[0]))
    assert index_of(limited.val[0]) == index_of(full.val[0])  # validation is never limited


def test_official_test_split_is_used_as_is(embedded):
    idx = select_digits(embedded.train_labels, 30)  # three of every class
    test = (embedded.train_images[idx], embedded.train_labels[idx])
    bundle = indexed_bundle(embedded.train_labels[:1000], test=test)
    splits = make_splits(bundle, config())
    assert torch.equal(splits.test[0], test[0])
    assert len(splits.train[0]) + len(splits.val[0]) == 1000
    assert len(splits.val[0]) == 100


def test_a_test_split_without_a_class_of_the_training_split_is_refused(embedded):
    labels = torch.arange(100) % 10
    keep = labels != 7
    bundle = indexed_bundle(torch.arange(1000) % 10, test=(embedded.train_images[:100][keep], labels[keep]))
    with pytest.raises(DataError, match="class 7 has training images but no test images"):
        make_splits(bundle, config())


def test_bundle_without_train_split(embedded):
    bundle = DataBundle(None, None, embedded.train_images[:40], embedded.train_labels[:40], "idx", "test only")
    splits = make_splits(bundle, config())
    assert len(splits.train[0]) == 0 and len(splits.val[0]) == 0
    assert splits.train[0].shape == (0, 28, 28) and splits.train[0].dtype == torch.uint8
    assert torch.equal(splits.test[0], embedded.train_images[:40])


# ---------------------------------------------------------------- TensorBatches


def numbered(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1).expand(n, 28, 28).contiguous()
    return images, torch.arange(n)


@pytest.mark.parametrize("drop_last, expected", [(False, [3, 3, 3, 1]), (True, [3, 3, 3])])
def test_batches_count_and_sizes(drop_last, expected):
    batches = TensorBatches(*numbered(10), batch_size=3, drop_last=drop_last)
    sizes = [len(labels) for _, labels, _ in batches]
    assert len(batches) == len(expected)
    assert sizes == expected


def test_batches_unshuffled_in_order_with_fixed_seeds():
    batches = TensorBatches(*numbered(10), batch_size=4)
    first = list(batches)
    assert torch.cat([labels for _, labels, _ in first]).tolist() == list(range(10))
    for images, labels, seed in first:
        assert images.dtype == torch.uint8 and images.shape[1:] == (28, 28)
        assert labels.dtype == torch.int64
        assert isinstance(seed, int)
        assert images[:, 0, 0].tolist() == labels.tolist()  # images and labels stay paired
    assert len({seed for _, _, seed in first}) == len(first)
    batches.set_epoch(5)  # validation: same order and same noise seeds every epoch
    again = list(batches)
    assert [s for _, _, s in again] == [s for _, _, s in first]
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again))


def test_batches_shuffle_by_epoch():
    batches = TensorBatches(*numbered(50), batch_size=10, shuffle=True, seed=3)

    def epoch(e: int):
        batches.set_epoch(e)
        out = list(batches)
        return torch.cat([labels for _, labels, _ in out]).tolist(), [s for _, _, s in out], out

    order0, seeds0, out0 = epoch(0)
    order1, seeds1, _ = epoch(1)
    order0_again, seeds0_again, _ = epoch(0)
    assert sorted(order0) == list(range(50)) and sorted(order1) == list(range(50))
    assert order0 != list(range(50))
    assert order0 != order1
    assert order0 == order0_again and seeds0 == seeds0_again
    assert set(seeds0).isdisjoint(seeds1)
    for images, labels, _ in out0:
        assert images[:, 0, 0].tolist() == labels.tolist()


def test_batches_seed_changes_order_and_noise_seeds():
    a = TensorBatches(*numbered(50), batch_size=10, shuffle=True, seed=3)
    b = TensorBatches(*numbered(50), batch_size=10, shuffle=True, seed=4)
    la, lb = list(a), list(b)
    assert [x[1].tolist() for x in la] != [x[1].tolist() for x in lb]
    assert {x[2] for x in la}.isdisjoint({x[2] for x in lb})


def test_batches_expose_sampler_for_lightning():
    batches = TensorBatches(*numbered(10), batch_size=4, shuffle=True)
    assert batches.sampler is batches
    batches.sampler.set_epoch(3)
    assert batches.epoch == 3


# ---------------------------------------------------------------- the data module


@pytest.fixture
def datamodule(embedded):
    dm = MNISTDataModule(config("data.batch_size=16", "eval.batch_size=100"), bundle=embedded)
    dm.setup("fit")
    return dm


def test_datamodule_sizes_and_loaders(datamodule):
    assert datamodule.sizes() == {"train": 4050, "val": 450, "test": 500}
    assert len(datamodule.train_dataloader()) == 4050 // 16  # drop_last
    assert len(datamodule.val_dataloader()) == 5
    assert len(datamodule.test_dataloader()) == 5


def test_on_after_batch_transfer(datamodule):
    """The datamodule asks the task it trains for the batch (here a denoiser: noisy + clean)."""
    from types import SimpleNamespace

    from mnistmax.tasks import build_task

    batch = next(iter(datamodule.train_dataloader()))
    datamodule.trainer = SimpleNamespace(lightning_module=build_task(datamodule.cfg), training=True)
    out = datamodule.on_after_batch_transfer(batch, 0)
    assert set(out) == {"noisy", "clean", "sigma", "labels"}
    clean, noisy = out["clean"], out["noisy"]
    assert clean.shape == noisy.shape == (16, 1, 28, 28)
    assert clean.dtype == noisy.dtype == torch.float32
    assert clean.min() >= 0 and clean.max() <= 1 and clean.max() == 1.0
    assert noisy.min() >= 0 and noisy.max() <= 1
    torch.testing.assert_close(clean, batch[0].unsqueeze(1).float() / 255, rtol=0, atol=0)
    assert torch.equal(out["labels"], batch[1])
    assert out["sigma"].shape == (16,)
    choices = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    assert ((out["sigma"].view(-1, 1) - choices).abs().min(dim=1).values < 1e-6).all()
    assert not torch.equal(noisy, clean)

    again = datamodule.on_after_batch_transfer(batch, 0)
    assert torch.equal(again["noisy"], noisy) and torch.equal(again["sigma"], out["sigma"])
    other = datamodule.on_after_batch_transfer((batch[0], batch[1], batch[2] + 1), 0)
    assert not torch.equal(other["noisy"], noisy)


def test_noisy_batch_sigma_is_per_image_noise_std(embedded):
    cfg = config("noise.clip=false", "noise.train_sigma_range=[0.05, 0.5]")
    images, labels = embedded.train_images[:64], embedded.train_labels[:64]
    out = noisy_batch(images, labels, cfg, torch.Generator().manual_seed(0))
    assert out["sigma"].min() >= 0.05 and out["sigma"].max() <= 0.5
    std = (out["noisy"] - out["clean"]).flatten(1).std(dim=1)
    torch.testing.assert_close(std, out["sigma"], rtol=0.12, atol=0)


def test_noisy_batch_uses_configured_kind(embedded):
    cfg = config("noise.kind=salt_pepper", "noise.train_sigmas=[0.3]")
    images, labels = embedded.train_images[:32], embedded.train_labels[:32]
    out = noisy_batch(images, labels, cfg, torch.Generator().manual_seed(0))
    changed = out["noisy"] != out["clean"]
    assert ((out["noisy"][changed] == 0) | (out["noisy"][changed] == 1)).all()
    assert torch.equal(out["sigma"], torch.full((32,), 0.3))


def test_to_float():
    images = torch.tensor([[[0, 51, 255]]], dtype=torch.uint8)
    out = to_float(images)
    assert out.shape == (1, 1, 1, 3) and out.dtype == torch.float32
    torch.testing.assert_close(out.flatten(), torch.tensor([0.0, 0.2, 1.0]))
    assert images.dtype == torch.uint8 and images.tolist() == [[[0, 51, 255]]]


def test_augmented_bitmap_denoise_batches_stay_binary_and_additive(embedded):
    """augment.enabled for a denoiser: the clean digits are augmented while training only,
    bitmaps stay 0/1, and additive noise still never removes a pixel of the (augmented) target."""
    cfg = config("task=denoise", "data.binarize=true", "augment.enabled=true", "noise.kind=add_mixed",
                 "noise.train_sigma_range=[0.2, 0.8]")
    images, labels = embedded.train_images[:64], embedded.train_labels[:64]
    trained = noisy_batch(images, labels, cfg, torch.Generator().manual_seed(0), training=True)
    plain = noisy_batch(images, labels, cfg, torch.Generator().manual_seed(0), training=False)
    assert set(trained["clean"].unique().tolist()) == {0.0, 1.0}
    assert (trained["noisy"] >= trained["clean"]).all()
    assert not torch.equal(trained["clean"], plain["clean"])  # augmented
    assert torch.equal(plain["clean"], (images.unsqueeze(1).float() / 255 >= 0.5).float())  # eval batches are not
