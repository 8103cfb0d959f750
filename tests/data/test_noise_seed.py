"""noise.seed: the training noise's own seed; the data order and the augmentation stay the run seed's."""

import pytest
import torch

from mnistmax.data.datamodule import TensorBatches, clean_images, noisy_batch
from mnistmax.data.noise import apply_noise, sample_levels
from mnistmax.data.sources import load_embedded
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def data():
    bundle = load_embedded()
    return bundle.train_images[:96], bundle.train_labels[:96]


def training_batches(data, cfg, training=True) -> list[dict]:
    """The batches of epoch 1 as training makes them: the loader's order and seeds, noise on top."""
    loader = TensorBatches(*data, 32, shuffle=True, seed=cfg.seed, drop_last=True)
    loader.set_epoch(1)
    return [noisy_batch(x, y, cfg, torch.Generator().manual_seed(seed), training) for x, y, seed in loader]


@pytest.mark.parametrize("augment", ["augment.enabled=false", "augment.enabled=true"])
def test_another_noise_seed_is_the_same_data_under_other_noise(data, augment):
    one, other, again = (training_batches(data, tiny_config(augment, f"noise.seed={s}")) for s in (1, 2, 1))
    for a, b, c in zip(one, other, again):
        assert torch.equal(a["clean"], b["clean"]) and torch.equal(a["labels"], b["labels"])  # order, augmentation
        assert not torch.equal(a["noisy"], b["noisy"]) and not torch.equal(a["sigma"], b["sigma"])
        assert torch.equal(a["noisy"], c["noisy"]) and torch.equal(a["sigma"], c["sigma"])  # the same seed: the same


def test_without_a_noise_seed_the_run_seed_draws_the_noise_as_before(data):
    cfg = tiny_config()
    assert cfg.noise.seed is None
    loader = TensorBatches(*data, 32, shuffle=True, seed=cfg.seed, drop_last=True)
    loader.set_epoch(1)
    for (x, _, seed), batch in zip(loader, training_batches(data, cfg)):
        g = torch.Generator().manual_seed(seed)  # what noisy_batch drew before noise.seed existed
        clean = clean_images(x, cfg)
        sigma = sample_levels(len(clean), cfg.noise.train_sigmas, cfg.noise.train_sigma_range, g)
        noisy = apply_noise(cfg.noise.kind, clean, sigma, generator=g, clip=cfg.noise.clip, **cfg.noise.options())
        assert torch.equal(batch["sigma"], sigma) and torch.equal(batch["noisy"], noisy)
    assert not torch.equal(training_batches(data, tiny_config("noise.seed=42"))[0]["noisy"],
                           training_batches(data, cfg)[0]["noisy"])  # noise.seed=seed is a stream of its own


def test_validation_noise_does_not_follow_the_noise_seed(data):
    plain, seeded = training_batches(data, tiny_config(), False), training_batches(data, tiny_config("noise.seed=7"),
                                                                                    False)
    assert all(torch.equal(a["noisy"], b["noisy"]) for a, b in zip(plain, seeded))


def test_clean_ratio_picks_follow_the_noise_seed(data):
    picks = [[(b["sigma"] == 0).nonzero().flatten().tolist() for b in
              training_batches(data, tiny_config("noise.clean_ratio=0.25", f"noise.seed={s}"))] for s in (1, 2, 1)]
    assert picks[0] == picks[2] and picks[0] != picks[1]
