import torch

from mnistmax.data.augment import AugmentParams, augment
from mnistmax.data.datamodule import balanced_order


def test_shape_range_and_determinism(digits):
    a = augment(digits, AugmentParams(elastic=1.0), torch.Generator().manual_seed(0))
    b = augment(digits, AugmentParams(elastic=1.0), torch.Generator().manual_seed(0))
    c = augment(digits, AugmentParams(elastic=1.0), torch.Generator().manual_seed(1))
    assert a.shape == digits.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_identity_parameters_keep_the_image(digits):
    still = AugmentParams(rotation=0, translate=0, scale=(1, 1), erase_prob=0, brightness=(1, 1))
    out = augment(digits, still, torch.Generator().manual_seed(0))
    assert torch.allclose(out, digits, atol=1e-5)


def test_consistent_applies_one_transform_to_the_batch(digits):
    same = digits[:1].expand(6, -1, -1, -1)
    out = augment(same, AugmentParams(), torch.Generator().manual_seed(3), consistent=True)
    assert all(torch.equal(out[0], out[i]) for i in range(6))
    varied = augment(same, AugmentParams(), torch.Generator().manual_seed(3), consistent=False)
    assert not all(torch.equal(varied[0], varied[i]) for i in range(6))


def test_balanced_order_gives_every_batch_every_class():
    labels = torch.arange(10).repeat_interleave(50)
    order = balanced_order(labels, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(500))
    for start in range(0, 500, 100):
        counts = torch.bincount(labels[order[start : start + 100]], minlength=10)
        assert counts.min() >= 9 and counts.max() <= 11
