"""train.compile=true end to end (about a minute: inductor compiles C++ for the step)."""

import pytest

from mnistmax import training
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow


def test_compiled_training_runs_on_the_cpu(tmp_path):
    cfg = tiny_config("model.name=conv_dae", "train.compile=true", "train.epochs=1", "train.accelerator=cpu",
                      "viz.enabled=false", "logging.progress=none", f"logging.output_dir={tmp_path}")
    run = training.train(cfg, echo=lambda m: None).run_dir
    assert (run / "checkpoints" / "last.ckpt").is_file()
