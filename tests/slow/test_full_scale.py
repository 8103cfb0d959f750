"""Full scale: the default denoiser trains on a generated 60,000 + 10,000-image IDX set (the
size of MNIST and Fashion-MNIST) within memory, and its memory stays flat from one epoch to
the next (about 2 minutes on a bf16 CPU, 5 on an fp32 one)."""

import json

import lightning as L
import pytest
import torch

from mnistmax import training
from mnistmax.data.sources import write_idx
from mnistmax.tasks import load_config
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


class MemoryAtEpochEnd(L.Callback):
    def __init__(self):
        self.rss: list[int] = []

    def on_train_epoch_end(self, trainer, module):
        self.rss.append(rss_bytes())


def full_size_idx(folder, embedded):
    """60,000 training and 10,000 test digits: the 5,000 embedded ones, shifted by a different pixel offset
    on every pass (distinct images, real strokes)."""
    def tiled(n, offset):
        images, labels = [], []
        for k in range(-(-n // 5000)):
            dy, dx = (k + offset) % 5 - 2, (k + offset) // 5 % 5 - 2
            images.append(torch.roll(embedded.train_images, (dy, dx), dims=(1, 2)))
            labels.append(embedded.train_labels)
        return torch.cat(images)[:n], torch.cat(labels)[:n].to(torch.uint8)

    for split, n, offset in (("train", 60_000, 0), ("t10k", 10_000, 13)):
        images, labels = tiled(n, offset)
        write_idx(folder / f"{split}-images-idx3-ubyte", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
    return folder


def test_the_default_denoiser_trains_on_60000_images_with_flat_memory(tmp_path, embedded):
    folder = full_size_idx(tmp_path / "idx", embedded)
    cfg = load_config(ROOT / "configs" / "mnist.yaml", [
        "data.source=idx", f"data.root={folder}", "train.epochs=2", "train.max_time_minutes=null",
        "viz.enabled=false", "logging.progress=none", f"logging.output_dir={tmp_path / 'out'}"])
    memory = MemoryAtEpochEnd()
    result = training.train(cfg, callbacks=[memory], echo=lambda m: None)
    assert result.status == "completed" and result.epochs_completed == 2
    sizes = {"train": 54_000, "val": 6_000, "test": 10_000}
    assert json.loads((result.run_dir / "meta.json").read_text())["data"]["sizes"] == sizes
    assert len(memory.rss) == 2 and memory.rss[1] - memory.rss[0] < 150 * 2**20, memory.rss  # flat: no growth
    assert max(memory.rss) < 4 * 2**30  # the whole process, data included, under 4 GiB
