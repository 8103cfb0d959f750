"""MNISTDataModule: uint8 tensors in memory, whole batches out, noise made on the device.

Batches leave the loaders as `(images_uint8, labels, noise_seed)`; `on_after_batch_transfer`
asks the task being trained (`make_batch`) to turn them into its batch dict (noisy and
clean images, two views, or plain digits) on whatever device the batch is on, so there is
no per-sample Python work anywhere in the hot path. The batch builders below are the
pieces tasks choose from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import lightning as L
import torch

from mnistmax.config import RunConfig
from mnistmax.data.augment import augment
from mnistmax.data.noise import apply_noise, sample_levels
from mnistmax.data.sources import DataBundle, load_source
from mnistmax.data.splits import stratified_split, stratified_subset
from mnistmax.errors import DataError
from mnistmax.hardware import resolve_channels_last


def batch_seed(stream: int, epoch: int, index: int) -> int:
    return (stream * 1_000_003 + epoch * 100_003 + index) % 2**62


def mixed_seed(*parts: int) -> int:
    """A seed in [0, 2**62) hashed from integers: unrelated streams for different tuples (a linear mix
    such as batch_seed's would make (noise.seed + 1, one run seed) repeat (noise.seed, another))."""
    digest = hashlib.blake2b(",".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**62


def noise_generator(generator: torch.Generator | None, cfg: RunConfig, device) -> torch.Generator | None:
    """What a training batch's noise is drawn from: the batch's own generator (noise.seed null: the
    run's seed, as ever), or one seeded by noise.seed and the batch's seed (a pure function of the run
    seed, epoch and batch index, so a resumed run draws the same noise) while the data order and the
    augmentation stay on the batch's generator."""
    if cfg.noise.seed is None:
        return generator
    batch = generator.initial_seed() if generator is not None else 0
    device = generator.device if generator is not None else device
    return torch.Generator(device=device).manual_seed(mixed_seed(cfg.noise.seed, batch))


def balanced_order(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A permutation that interleaves the classes (each shuffled): any run of k * C items
    holds about k of every class, so each batch has positives for every anchor."""
    shuffled = torch.randperm(len(labels), generator=generator)
    lab = labels[shuffled]
    rank = torch.zeros(len(labels), dtype=torch.long)
    for c in torch.unique(lab):
        idx = torch.nonzero(lab == c).flatten()
        rank[idx] = torch.arange(len(idx)) * len(labels) // len(idx)  # spread each class evenly
    return shuffled[torch.argsort(rank * 1000 + lab, stable=True)]


class TensorBatches:
    """An iterable of (images, labels, noise_seed) batches sliced from in-memory tensors.

    `noise_seed` is a pure function of (seed, epoch, batch index): the noise a batch gets
    never depends on what ran before it, so validation sees the same noise every epoch and a
    resumed run the same noise as an uninterrupted one. Shuffling is a seeded permutation per
    epoch; Lightning calls `set_epoch` (through the `sampler` attribute, as it does for a
    DistributedSampler) so a resumed run sees the same order as an uninterrupted one.

    `device`: the tensors are copied there once and batches are sliced there (no per-batch
    host-to-device copy). `rank` / `world_size`: under DDP each process takes its own
    contiguous share of every epoch's order (the same number of batches on every rank).
    """

    def __init__(self, images, labels, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                 balanced: bool = False, device: torch.device | str | None = None, rank: int = 0, world_size: int = 1):
        self.labels = labels  # the order is drawn on the CPU from these
        self.images, self.batch_labels = images.to(device), labels.to(device)
        self.rank, self.world_size = rank, world_size
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.balanced = balanced  # interleave classes so every batch holds about batch_size / C of each
        self.stream = (seed * 7 + (1 if shuffle else 2)) % 2**31
        self.epoch = 0
        self.sampler, self.batch_sampler = self, None  # where Lightning looks for set_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _share(self) -> tuple[int, int]:
        """(first item, item count) of this rank's share of an epoch."""
        n = len(self.images)
        per_rank = n // self.world_size if self.drop_last else -(-n // self.world_size)
        start = self.rank * per_rank
        return start, max(0, min(per_rank, n - start))

    def __len__(self) -> int:
        n = self._share()[1]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.images)
        start, _ = self._share()
        order = None
        if self.shuffle:
            generator = torch.Generator().manual_seed(batch_seed(self.stream, self.epoch, n))
            order = balanced_order(self.labels, generator) if self.balanced else torch.randperm(n, generator=generator)
            order = order.to(self.images.device)
        for i in range(len(self)):
            sl = slice(start + i * self.batch_size, start + (i + 1) * self.batch_size)
            idx = order[sl] if order is not None else sl
            index = i * self.world_size + self.rank  # distinct noise on every rank; i itself with one process
            seed = batch_seed(self.stream, self.epoch if self.shuffle else 0, index)
            yield self.images[idx], self.batch_labels[idx], seed


@dataclass
class Splits:
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def make_splits(bundle: DataBundle, cfg: RunConfig) -> Splits:
    """Train / val / test from a bundle: a stratified test hold-out when the source has no
    test split, a stratified validation hold-out from train, optional class-balanced limits."""
    d = cfg.data
    if bundle.train_images is None:
        empty = (torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long))
        test = (bundle.test_images, bundle.test_labels)
        return Splits(empty, empty, _limit(test, d.limit_test, cfg.seed))
    images, labels = bundle.train_images, bundle.train_labels
    if bundle.test_images is None:
        keep, held = stratified_split(labels, d.test_fraction, cfg.seed)
        test = (images[held], labels[held])
        images, labels = images[keep], labels[keep]
    else:
        test = (bundle.test_images, bundle.test_labels)
        check_test_classes(bundle)
    keep, held = stratified_split(labels, d.val_fraction, cfg.seed + 1)
    train, val = (images[keep], labels[keep]), (images[held], labels[held])
    return Splits(_limit(train, d.limit_train, cfg.seed), val, _limit(test, d.limit_test, cfg.seed))


def check_test_classes(bundle: DataBundle) -> None:
    """A test split of its own must hold every class the training split has (else its scores
    would silently leave a class out): one line naming the first missing class."""
    if not bundle.labelled or bundle.test_labels is None:
        return
    missing = sorted(set(bundle.train_labels.unique().tolist()) - set(bundle.test_labels.unique().tolist()))
    if missing:
        name = lambda k: repr(bundle.classes[k]) if bundle.classes else str(k)  # noqa: E731
        raise DataError(f"{bundle.description}: class {name(missing[0])} has training images but no test images"
                        + (f" ({len(missing)} classes have none)" if len(missing) > 1 else ""))


def load_bundle(cfg: RunConfig) -> DataBundle:
    d = cfg.data
    return load_source(d.source, d.dataset, d.root, d.download, d.keys, d.preprocess)


def load_splits(cfg: RunConfig) -> Splits:
    """The train / val / test splits that `cfg`'s data section describes."""
    return make_splits(load_bundle(cfg), cfg)


def test_images(cfg: RunConfig) -> torch.Tensor:
    bundle = load_bundle(cfg)
    images = make_splits(bundle, cfg).test[0]
    if len(images) == 0:
        raise DataError(f"data source {bundle.description} has no test images to evaluate on")
    return images


def _limit(split, size: int | None, seed: int):
    if size is None:
        return split
    idx = stratified_subset(split[1], size, seed)
    return split[0][idx], split[1][idx]


class MNISTDataModule(L.LightningDataModule):
    def __init__(self, cfg: RunConfig, bundle: DataBundle | None = None, splits: Splits | None = None):
        super().__init__()
        self.cfg = cfg
        self.bundle = bundle
        self.splits: Splits | None = splits

    def setup(self, stage: str | None = None) -> None:
        if self.bundle is None:
            self.bundle = load_bundle(self.cfg)
        if self.splits is None:
            self.splits = make_splits(self.bundle, self.cfg)

    def sizes(self) -> dict[str, int]:
        self.setup()
        return {name: len(getattr(self.splits, name)[0]) for name in ("train", "val", "test")}

    def _placement(self) -> dict:
        """Where the loaders put their tensors: on the training device (once, not per batch)
        and this process's share under DDP; the CPU and all of it without a trainer."""
        if self.trainer is None:
            return {}
        device = self.trainer.strategy.root_device
        return {"device": device, "rank": self.trainer.global_rank, "world_size": self.trainer.world_size}

    def train_dataloader(self):
        images, labels = self.splits.train
        balanced = self.trainer is not None and self.trainer.lightning_module.balanced_batches()
        return TensorBatches(images, labels, self.cfg.data.batch_size, shuffle=True, seed=self.cfg.seed, drop_last=True,
                             balanced=balanced, **self._placement())

    def val_dataloader(self):
        return TensorBatches(*self.splits.val, self.cfg.eval.batch_size, **self._placement())

    def test_dataloader(self):
        return TensorBatches(*self.splits.test, self.cfg.eval.batch_size, **self._placement())

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        out = self.make_batch(batch)
        if resolve_channels_last(self.cfg.train.channels_last, out["labels"].device.type):  # as the task's weights
            out = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in out.items()}
        return out

    def make_batch(self, batch) -> dict:
        """(uint8 images, labels, noise seed) -> the task's batch dict, on the batch's device."""
        images, labels, seed = batch
        generator = torch.Generator(device=images.device).manual_seed(int(seed))
        return self.trainer.lightning_module.make_batch(images, labels, generator, self.trainer.training)


def to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    """(B, 28, 28) uint8 -> (B, 1, 28, 28) float in [0, 1]."""
    return images_uint8.unsqueeze(1).float().div_(255.0)


def clean_images(images_uint8: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
    """The clean targets: floats in [0, 1], or 0/1 bitmaps when data.binarize is on."""
    return binarized(to_float(images_uint8), cfg)


def binarized(images: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
    """0/1 bitmaps at data.threshold when data.binarize is on; the images unchanged otherwise."""
    return (images >= cfg.data.threshold).to(images.dtype) if cfg.data.binarize else images


def training_images(images: torch.Tensor, cfg: RunConfig, generator: torch.Generator, training: bool) -> torch.Tensor:
    """clean_images, augmented (augment.*) while training when augment.enabled; bitmaps are
    thresholded again after the augmentation's interpolation so that they stay 0/1."""
    clean = clean_images(images, cfg)
    if not (training and cfg.augment.enabled):
        return clean
    return binarized(augment(clean, cfg.augment, generator, cfg.augment.consistent), cfg)


def noisy_batch(images: torch.Tensor, labels: torch.Tensor, cfg: RunConfig, generator: torch.Generator,
                training: bool = False, within: tuple[float, float] | None = None) -> dict:
    """Noisy and clean images and each image's level; `within`: a curriculum's current range.
    Training draws the training noise (from noise.seed when it is set: noise_generator); validation
    draws noise.validation_noise() (the training noise at its final range unless noise.validation
    says otherwise)."""
    clean = training_images(images, cfg, generator, training)
    n = cfg.noise
    if training:
        generator = noise_generator(generator, cfg, clean.device)  # noise.seed: the noise's own draws
        kind = n.kind
        sigma = sample_levels(len(clean), n.train_sigmas, n.train_sigma_range, generator, clean.device, within)
    else:
        v = n.validation_noise()
        kind, sigma = v.kind, sample_levels(len(clean), v.levels, v.range, generator, clean.device)
    noisy = apply_noise(kind, clean, sigma, generator=generator, clip=n.clip, **n.options())
    if training and n.clean_ratio > 0:  # exactly round(clean_ratio * B) images of the batch stay clean
        device = generator.device if generator is not None else clean.device
        keep = torch.randperm(len(clean), generator=generator, device=device)[:round(n.clean_ratio * len(clean))]
        keep = keep.to(clean.device)
        noisy[keep] = clean[keep]
        sigma = sigma.clone()
        sigma[keep] = 0.0
    return {"noisy": noisy, "clean": clean, "sigma": sigma, "labels": labels}


def plain_batch(images: torch.Tensor, labels: torch.Tensor, cfg: RunConfig, generator: torch.Generator,
                training: bool = False) -> dict:
    """The clean digits (augmented while training when augment.enabled) and their labels."""
    return {"images": training_images(images, cfg, generator, training), "labels": labels}


def view_batch(images: torch.Tensor, labels: torch.Tensor, cfg: RunConfig, generator: torch.Generator) -> dict:
    """Two augmented views of each clean image (contrastive tasks)."""
    clean = clean_images(images, cfg)
    views = [augment(clean, cfg.augment, generator, cfg.augment.consistent) for _ in range(2)]
    return {"images": clean, "view1": views[0], "view2": views[1], "labels": labels}
