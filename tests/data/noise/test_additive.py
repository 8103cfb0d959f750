"""Additive-only noise never removes ink, and keeps bitmaps binary."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistmax.data.noise import NOISE_FUNCTIONS, apply_noise
from mnistmax.data.noise.additive import ADDITIVE_FUNCTIONS

KINDS = sorted(ADDITIVE_FUNCTIONS)


def test_additive_kinds_are_registered_noise_kinds():
    from mnistmax.data.noise import NOISE_KINDS

    assert set(KINDS) <= set(NOISE_FUNCTIONS) and set(NOISE_FUNCTIONS) == set(NOISE_KINDS)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**31 - 1),
    level=st.floats(0.0, 1.0),
    binary=st.booleans(),
)
def test_noise_never_removes_a_pixel(kind, seed, level, binary):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(6, 1, 28, 28, generator=g)
    if binary:
        clean = (clean > 0.7).float()
    noisy = apply_noise(kind, clean, level, generator=torch.Generator().manual_seed(seed))
    assert (noisy >= clean).all()
    assert noisy.min() >= 0 and noisy.max() <= 1
    if binary:
        assert set(noisy.unique().tolist()) <= {0.0, 1.0}
        assert ((clean > 0.5) <= (noisy > 0.5)).all()  # on-pixels of noisy ⊇ on-pixels of clean


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**31 - 1))
def test_per_image_levels_and_level_zero(kind, seed):
    clean = torch.zeros(4, 1, 28, 28)
    assert torch.equal(apply_noise(kind, clean, 0.0, torch.Generator().manual_seed(seed)), clean)
    levels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    noisy = apply_noise(kind, clean, levels, torch.Generator().manual_seed(seed))
    assert noisy[:2].sum() == 0 and (noisy[2:].flatten(1).sum(1) > 0).all()


def test_more_intensity_adds_more_ink():
    clean = torch.zeros(256, 1, 28, 28)
    for kind in KINDS:
        ink = [apply_noise(kind, clean, lv, torch.Generator().manual_seed(3)).mean().item() for lv in (0.1, 0.5, 1.0)]
        assert ink[0] < ink[1] < ink[2], (kind, ink)


def test_border_touches_only_the_edges():
    noisy = apply_noise("add_border", torch.zeros(32, 1, 28, 28), 1.0, torch.Generator().manual_seed(0))
    assert noisy[..., 3:25, 3:25].sum() == 0  # bands are at most 3 px deep
    assert (noisy[..., 0, :].sum(-1) > 0).all()  # level 1: all four sides


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**31 - 1), level=st.floats(0.0, 1.0),
       per_image=st.integers(1, 3))
def test_the_added_ink_does_not_depend_on_the_image(kind, seed, level, per_image):
    """What eval's recall_visible rests on: the same draw on a blank image is the ink the noise added."""
    clean = (torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(seed + 1)) > 0.8).float()
    draw = lambda x: apply_noise(kind, x, level, generator=torch.Generator().manual_seed(seed),  # noqa: E731
                                 kinds_per_image=per_image)
    assert torch.equal(draw(clean), torch.maximum(clean, draw(torch.zeros_like(clean))))
