"""The TASKS registry and what every task class declares; every shipped config builds its
task and trains one step of it."""

from pathlib import Path

import lightning as L
import pytest
import torch

from mnistmax.data.datamodule import MNISTDataModule
from mnistmax.errors import RunError
from mnistmax.models import get_entry, list_models
from mnistmax.tasks import TASKS, build_task, get_task, load_config, tasks_that

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml")
                 if p.parent.name not in ("grid", "search"))
SMALL = ["data.source=embedded", "data.limit_train=64", "data.limit_test=20", "data.batch_size=32",
         "train.max_time_minutes=null", "logging.progress=none"]


def test_every_task_is_registered_under_its_name():
    assert set(TASKS) == {"denoise", "contrastive", "autoencoder", "vae", "classify"}
    for name, cls in TASKS.items():
        assert cls.name == name
        assert list_models(cls.family), f"no network serves {name}"


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError,
                       match="unknown task 'denoize'; valid: autoencoder, classify, contrastive, denoise, vae"):
        get_task("denoize")


def test_capabilities_name_the_tasks_that_have_them():
    assert tasks_that("embed") == ["contrastive"]
    assert tasks_that("sample") == ["vae"]
    assert tasks_that("reconstruct") == ["autoencoder", "denoise", "vae"]
    with pytest.raises(RunError, match=r"needs a run whose task can embed \(contrastive\); this is a denoise run"):
        build_task(load_config("configs/quick.yaml")).require("embed", "`mnistmax probe`")


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_config_builds_and_trains_one_step(path, tmp_path):
    full_scale = ["data.dataset=mnist"] if "/zoo/" in str(path) else []  # a Fashion-MNIST recipe steps on digits here
    cfg = load_config(ROOT / path, [*SMALL, *full_scale, f"logging.output_dir={tmp_path}"])
    task = build_task(cfg)
    assert isinstance(task, get_task(cfg.task)) and get_entry(cfg.model.name).family in task.families()
    before = {k: v.clone() for k, v in task.net.state_dict().items() if v.is_floating_point()}
    data = MNISTDataModule(cfg)
    trainer = L.Trainer(fast_dev_run=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=task.training_callbacks(tmp_path))
    trainer.fit(task, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["val/loss"])
    after = task.net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "one optimiser step changed nothing"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_batches_have_what_the_task_steps_on(name, embedded):
    """make_batch builds exactly the keys model_step reads, on clean uint8 digits."""
    cls = get_task(name)
    cfg = load_config(None, [f"task={name}", f"model.name={list_models(cls.family)[0]}"])
    task = build_task(cfg)
    images, labels = embedded.train_images[:8], embedded.train_labels[:8]
    batch = task.make_batch(images, labels, torch.Generator().manual_seed(0), True)
    assert torch.equal(batch["labels"], labels)
    for key, value in batch.items():
        if value.ndim == 4:
            assert value.shape == (8, 1, 28, 28) and 0 <= value.min() and value.max() <= 1, key
    loss, _ = task.model_step(batch, "train")
    assert loss.ndim == 0 and torch.isfinite(loss)
