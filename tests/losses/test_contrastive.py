"""Contrastive losses: hand-checked values, alignment lowers them, a few steps reduce them."""

import math

import pytest
import torch
import torch.nn.functional as F

from mnistmax.losses.contrastive import info_nce_loss, nt_xent_loss, supcon_loss, triplet_loss


def test_nt_xent_matches_a_hand_computed_example():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = 0.5
    # view 0: sims to (1, 2, 3) = (0, 1, 0) -> positive is index 2
    expected = -math.log(math.exp(1 / t) / (math.exp(0) + math.exp(1 / t) + math.exp(0)))
    assert nt_xent_loss(z1, z2, t).item() == pytest.approx(expected, rel=1e-5)


def test_supcon_matches_a_hand_computed_example():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    t = 1.0
    # anchors 0 and 1 have one positive (sim 1) against denominators e^1 + e^0; anchor 2 has none
    expected = -math.log(math.e / (math.e + 1))
    assert supcon_loss(z, labels, t).item() == pytest.approx(expected, rel=1e-5)


def test_triplet_batch_hard_by_hand():
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # anchor 0 and positive 1 are orthogonal
    labels = torch.tensor([0, 0, 1])  # negative 2 equals anchor 0
    loss = triplet_loss(e, labels, margin=0.2, mining="batch_hard")
    d = math.sqrt(2)
    # anchor 0: pos d, neg 0 -> d + 0.2; anchor 1: pos d, neg d -> 0.2; anchor 2 has no positive
    assert loss.item() == pytest.approx((d + 0.2 + 0.2) / 2, rel=1e-5)


@pytest.mark.parametrize("name", ["ntxent", "infonce", "supcon", "triplet_all", "triplet_hard", "triplet_semi"])
def test_aligned_views_score_lower_than_shuffled(name):
    torch.manual_seed(0)
    labels = torch.arange(8).repeat(4)
    centres = F.normalize(torch.randn(8, 16), dim=1) * 4
    z1 = centres[labels] + 0.1 * torch.randn(32, 16)
    z2 = centres[labels] + 0.1 * torch.randn(32, 16)
    shuffled = z2[torch.randperm(32)]
    loss = {
        "ntxent": lambda a, b: nt_xent_loss(a, b, 0.2),
        "infonce": lambda a, b: info_nce_loss(a, b, 0.2),
        "supcon": lambda a, b: supcon_loss(torch.cat([a, b]), torch.cat([labels, labels]), 0.1),
        "triplet_all": lambda a, b: triplet_loss(torch.cat([a, b]), torch.cat([labels, labels]), 0.2, "batch_all"),
        "triplet_hard": lambda a, b: triplet_loss(torch.cat([a, b]), torch.cat([labels, labels]), 0.2, "batch_hard"),
        "triplet_semi": lambda a, b: triplet_loss(torch.cat([a, b]), torch.cat([labels, labels]), 0.2, "semi_hard"),
    }[name]
    aligned = loss(z1, z2)
    if name.startswith("triplet") or name == "supcon":  # label-based: compare with random labels instead
        labels_backup = labels.clone()
        labels[:] = labels[torch.randperm(32)]
        worse = loss(z1, z2)
        labels[:] = labels_backup
    else:
        worse = loss(z1, shuffled)
    assert torch.isfinite(aligned) and torch.isfinite(worse)
    assert aligned < worse


@pytest.mark.parametrize("which", ["ntxent", "infonce", "supcon", "triplet"])
def test_a_few_gradient_steps_reduce_the_loss(which):
    torch.manual_seed(0)
    labels = torch.arange(4).repeat(4)
    base = torch.randn(16, 8)
    encoder = torch.nn.Linear(8, 8)
    opt = torch.optim.SGD(encoder.parameters(), lr=0.5)

    def loss():
        a, b = encoder(base + 0.05 * torch.randn(16, 8)), encoder(base + 0.05 * torch.randn(16, 8))
        if which == "ntxent":
            return nt_xent_loss(a, b, 0.5)
        if which == "infonce":
            return info_nce_loss(a, b, 0.5)
        if which == "supcon":
            return supcon_loss(torch.cat([a, b]), torch.cat([labels, labels]), 0.5)
        return triplet_loss(torch.cat([a, b]), torch.cat([labels, labels]), 0.5, "batch_all")

    torch.manual_seed(1)
    first = loss().item()
    for _ in range(30):
        opt.zero_grad()
        loss().backward()
        opt.step()
    torch.manual_seed(1)
    assert loss().item() < first
