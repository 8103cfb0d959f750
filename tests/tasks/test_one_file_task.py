"""A task is the unit of extension (DESIGN principle 1): `inpaint`, written in this file alone
with its own options, trains, evaluates, exports and loads through the package's own commands;
no package file names it."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field

from mnistmax.config.section import Section
from mnistmax.data.datamodule import clean_images
from mnistmax.tasks import TASKS, BaseTask, register_task
from mnistmax.tasks.graphs import IMAGES, Graph
from tests.helpers import invoke, one_error_line


class InpaintOptions(Section):
    absent: ClassVar[str] = "it fills no holes"
    hole: int = Field(8, ge=2, le=20)  # side of the square cut out of every digit


def cut_holes(clean: torch.Tensor, hole: int, generator: torch.Generator) -> torch.Tensor:
    """Each digit with a hole x hole square set to 0 at a random place. (B, 1, 28, 28)"""
    corners = torch.randint(0, 28 - hole + 1, (len(clean), 2), generator=generator, device=generator.device)
    rows = torch.arange(28, device=clean.device)
    inside = lambda start: (rows >= start[:, None]) & (rows < start[:, None] + hole)  # noqa: E731  (B, 28)
    mask = inside(corners[:, 0].to(clean.device))[:, :, None] & inside(corners[:, 1].to(clean.device))[:, None, :]
    return clean.masked_fill(mask[:, None], 0.0)


class InpaintTask(BaseTask):
    name = "inpaint"
    family = "denoise"  # any registered denoiser fills holes
    options = {"inpaint": InpaintOptions}
    capabilities = frozenset({"reconstruct"})

    def make_batch(self, images, labels, generator, training) -> dict:
        clean = clean_images(images, self.cfg)
        return {"noisy": cut_holes(clean, self.cfg.inpaint.hole, generator), "clean": clean, "labels": labels}

    def model_step(self, batch, stage: str):
        return F.mse_loss(self.net(batch["noisy"]), batch["clean"]), {}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(x).float()

    def evaluate(self, run, lpips: bool = False, warn=print) -> list[dict]:
        clean = clean_images(run.test_images, run.cfg)
        holed = cut_holes(clean, self.cfg.inpaint.hole, torch.Generator().manual_seed(run.cfg.eval.seed))
        mse = lambda x: float(F.mse_loss(x, clean))  # noqa: E731
        return [{"method": run.cfg.model.name, "hole": self.cfg.inpaint.hole, "n": len(clean),
                 "mse": mse(self.reconstruct(holed)), "mse_holed": mse(holed)}]

    @classmethod
    def headline(cls, rows: list[dict]) -> dict:
        return {"metric": "test MSE", "scores": {r["method"]: r["mse"] for r in rows}}

    def export_graphs(self, threshold=None) -> list:
        return [Graph("model", "reconstruct", self.net, "holed", IMAGES, "[0, 1] float32", "filled", IMAGES,
                      "[0, 1] float32")]


@pytest.fixture(scope="module")
def inpaint_registered():
    """InpaintTask registered for this module's tests only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TASKS, "_items", dict(TASKS._items))
        register_task(InpaintTask)
        yield


@pytest.fixture(scope="module")
def config_file(tmp_path_factory, inpaint_registered):
    import yaml

    tmp = tmp_path_factory.mktemp("inpaint")
    path = tmp / "inpaint.yaml"
    path.write_text(yaml.safe_dump({
        "name": "inpaint", "task": "inpaint", "inpaint": {"hole": 6},
        "data": {"source": "embedded", "limit_train": 256, "limit_test": 40, "batch_size": 32},
        "model": {"name": "unet_dae", "base_ch": 4},
        "train": {"epochs": 2, "lr": 3e-3, "max_time_minutes": None},
        "logging": {"output_dir": str(tmp / "out"), "progress": "none"}}))
    return path


@pytest.fixture(scope="module")
def inpaint_run(config_file):
    result = invoke("train", "-c", config_file)
    assert result.exit_code == 0, result.output
    return next((config_file.parent / "out" / "runs").iterdir())


def test_the_task_trains_evaluates_exports_and_loads(inpaint_run, tmp_path):
    import mnistmax

    meta = json.loads((inpaint_run / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["task"] == "inpaint" and meta["epochs_completed"] == 2
    assert "inpaint:\n  hole: 6" in (inpaint_run / "config.yaml").read_text()  # what ran, its own section included
    result = invoke("eval", inpaint_run)
    assert result.exit_code == 0, result.output
    (row,) = json.loads((inpaint_run / "eval" / "eval.json").read_text())
    assert row["hole"] == 6 and row["n"] == 40 and 0 <= row["mse_holed"] < 1 and 0 <= row["mse"] < 1
    from mnistmax.runs import load_run
    from mnistmax.tasks import build_task

    run = load_run(inpaint_run)
    untrained = {**row, **build_task(run.cfg).eval().evaluate(run)[0]}
    assert row["mse"] < untrained["mse"]  # the two epochs taught it something
    result = invoke("export", inpaint_run, "--format", "safetensors", "--output", tmp_path / "export")
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "export" / "model.json").read_text())
    assert card["task"] == "inpaint" and card["metrics"]["headline"]["metric"] == "test MSE"
    holed = cut_holes(torch.rand(3, 1, 28, 28), 6, torch.Generator().manual_seed(0))
    model = mnistmax.load(tmp_path / "export")
    assert torch.equal(model.reconstruct(holed), mnistmax.load(inpaint_run).reconstruct(holed))


def test_its_options_are_checked_like_model_keys(config_file):
    result = invoke("train", "-c", config_file, "inpaint.hole=1")
    assert result.exit_code == 2
    assert "inpaint.hole: Input should be greater than or equal to 2" in one_error_line(result)
    result = invoke("train", "-c", "quick", "inpaint.hole=4")  # another task: the key is refused with the reason
    assert result.exit_code == 2
    assert "inpaint.hole: not used by task denoise (it fills no holes)" in one_error_line(result)


def test_no_package_file_names_the_task():
    from tests.test_architecture import PACKAGE

    assert [p for p in PACKAGE.rglob("*.py") if "inpaint" in p.read_text()] == []
