"""contrastive.triplets=sampled: explicit (anchor, positive, negative) triplets from the labels,
with one warp per triplet under augment.consistent."""

import pytest
import torch

import mnistmax.training as training
from mnistmax.data.sources import load_embedded
from mnistmax.data.triplets import sample_triplets, triplet_batch
from mnistmax.errors import ConfigError
from mnistmax.tasks import load_config
from tests.helpers import ROOT, TINY_ANY

TRIPLET = ROOT / "configs" / "models" / "triplet.yaml"


@pytest.mark.parametrize("seed", range(5))
def test_anchor_and_positive_share_a_label_and_the_negative_does_not(seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (40,), generator=g)
    labels[0] = 9  # a digit alone in its batch: no positive, left out
    a, p, n = sample_triplets(labels, g)
    assert len(a) == len(p) == len(n) == 39 and 0 not in a.tolist()
    assert (labels[a] == labels[p]).all() and (a != p).all() and (labels[n] != labels[a]).all()


def test_positives_and_negatives_are_drawn_not_fixed():
    labels = torch.arange(10).repeat(6)
    firsts = {tuple(sample_triplets(labels, torch.Generator().manual_seed(s))[1][:5].tolist()) for s in range(6)}
    assert len(firsts) > 1


def config(*overrides):
    return load_config(TRIPLET, [*TINY_ANY, "contrastive.triplets=sampled", *overrides])


def same_digit_batch():
    """Twenty copies of one digit, labelled 0 and 1 alternately: every member of every triplet is the same image."""
    image = load_embedded().train_images[:1]
    return image.repeat(20, 1, 1), torch.arange(20) % 2


def test_consistent_augmentation_is_one_warp_per_triplet():
    images, labels = same_digit_batch()
    batch = triplet_batch(images, labels, config("augment.consistent=true"), torch.Generator().manual_seed(0))
    assert torch.equal(batch["anchor"], batch["positive"]) and torch.equal(batch["anchor"], batch["negative"])
    assert not torch.equal(batch["anchor"][0], batch["anchor"][1])  # another triplet, another warp
    independent = triplet_batch(images, labels, config(), torch.Generator().manual_seed(0))
    assert not torch.equal(independent["anchor"], independent["positive"])


def test_keys_follow_the_choice():
    with pytest.raises(ConfigError, match=r"contrastive.mining: not used .*sampled draws its triplets"):
        config("contrastive.mining=batch_all")
    with pytest.raises(ConfigError, match=r"contrastive.triplets: not used .*ntxent uses no triplets"):
        load_config(ROOT / "configs" / "models" / "simclr.yaml", [*TINY_ANY, "contrastive.triplets=sampled"])
    with pytest.raises(ConfigError, match=r"contrastive.triplets: must be one of 'mined' or 'sampled'"):
        load_config(TRIPLET, ["contrastive.triplets=random"])


def test_a_sampled_triplet_run_trains_and_probes(tmp_path):
    cfg = config("train.epochs=2", "viz.enabled=false", "logging.progress=none", f"logging.output_dir={tmp_path}",
                 "model.embedding_dim=32")
    run_dir = training.train(cfg, echo=lambda m: None).run_dir
    import csv

    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("train/loss")]
    losses = [float(r["train/loss"]) for r in rows]
    assert len(losses) == 2 and all(0 <= x < 10 for x in losses)


def test_sampled_triplet_loss_by_hand():
    from mnistmax.losses.contrastive import sampled_triplet_loss

    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # first: same direction (0), second: 90 degrees (sqrt 2)
    n = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # first: sqrt 2 away, second: same direction (0)
    loss = sampled_triplet_loss(a, p, n, margin=0.2)
    assert loss.item() == pytest.approx((0.0 + (2 ** 0.5 - 0 + 0.2)) / 2)
    assert sampled_triplet_loss(a[:0], p[:0], n[:0]).item() == 0.0
