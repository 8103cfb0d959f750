import torch

from mnistmax.config import config_to_dict
from mnistmax.data.datamodule import to_float
from mnistmax.data.noise.destructive import add_gaussian_noise
from mnistmax.data.sources import load_embedded
from mnistmax.tasks import build_task, load_config
from mnistmax.tasks.base import warmup_cosine


def test_overfits_a_small_batch():
    torch.manual_seed(0)
    cfg = load_config(None, ["model.name=unet_dae", "model.base_ch=8", "train.loss=l2"])
    task = build_task(cfg)
    clean = to_float(load_embedded().train_images[:16])
    noisy = add_gaussian_noise(clean, 0.3, torch.Generator().manual_seed(0))
    batch = {"noisy": noisy, "clean": clean}
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss, _ = task.model_step(batch, "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_checkpoint_hyperparameters_are_plain_and_rebuild_the_model():
    cfg = load_config(None, ["model.name=conv_dae", "model.base_ch=8"])
    task = build_task(cfg)
    hparams = dict(task.hparams)
    assert hparams["config"] == config_to_dict(cfg)
    rebuilt = build_task(load_config(None, ["model.name=conv_dae", "model.base_ch=8"]))
    rebuilt.load_state_dict(task.state_dict())  # same architecture, strict load works


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 10, 100) == 0.1
    assert warmup_cosine(9, 10, 100) == 1.0
    assert abs(warmup_cosine(10, 10, 100) - 1.0) < 1e-9
    values = [warmup_cosine(s, 10, 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert abs(values[-1] - 0.01) < 1e-9
