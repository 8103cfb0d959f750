"""Loading runs: the checkpoint asked for or a one-line error, and the config the checkpoint
was trained with."""

import pytest
import torch

from mnistmax.config import config_to_dict
from mnistmax.errors import RunError
from mnistmax.files import find_checkpoint
from mnistmax.runs import load_run
from mnistmax.tasks import build_task
from tests.helpers import fake_run, invoke, one_error_line, tiny_config


def test_find_checkpoint_never_takes_another_one(tmp_path):
    run = fake_run(tmp_path, {"state_dict": {}}, which="last")
    assert find_checkpoint(run, "last") == run / "checkpoints" / "last.ckpt"
    with pytest.raises(RunError, match=r"no best.ckpt in .*checkpoints; it has last: pass --checkpoint last"):
        find_checkpoint(run, "best")
    with pytest.raises(RunError, match="--checkpoint 'newest': use best, last, interrupted or a path"):
        find_checkpoint(run, "newest")


def test_cli_names_the_checkpoint_it_lacks(tmp_path):
    cfg = tiny_config()
    run = fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, which="last", cfg=cfg)
    assert "no best.ckpt" in one_error_line(invoke("eval", run))
    assert invoke("eval", run, "--checkpoint", "last").exit_code == 0


def test_load_run_rebuilds_from_the_checkpoints_config(tmp_path):
    """config.yaml says base_ch 8; the checkpoint was trained with base_ch 4 and says so."""
    trained = tiny_config("model.base_ch=4")
    task = build_task(trained)
    ckpt = {"state_dict": task.state_dict(), "hyper_parameters": {"config": config_to_dict(trained)}}
    run = load_run(fake_run(tmp_path, ckpt, cfg=tiny_config("model.base_ch=8")))
    assert run.cfg.model.options()["base_ch"] == 4 and run.checkpoint == "best"
    assert not run.task.training
    for key, value in task.state_dict().items():
        assert torch.equal(run.task.state_dict()[key], value), key


def test_loaded_run_takes_eval_overrides_and_refuses_unused_keys(tmp_path):
    cfg = tiny_config()
    run = load_run(fake_run(tmp_path, {"state_dict": build_task(cfg).state_dict()}, cfg=cfg))
    assert run.with_overrides(["eval.seed=7"]).cfg.eval.seed == 7
    assert run.with_overrides(["eval.seed=7"]).task is run.task
    with pytest.raises(Exception, match="contrastive.temperature: a trained model is evaluated under data, noise, "
                       "eval keys only"):
        run.with_overrides(["contrastive.temperature=0.3"])
