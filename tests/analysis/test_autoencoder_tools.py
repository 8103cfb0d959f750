"""Latent explorer and transfer learning on a tiny conv_ae run."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from mnistmax.analysis.latent import interpolation_latents, traversal_latents
from mnistmax.analysis.transfer import encoder_state, parse_labels
from mnistmax.cli import app
from mnistmax.errors import MnistmaxError
from mnistmax.runs import load_run
from mnistmax.training import train
from mnistmax.training.classifier import classifier_config, train_classifier
from tests.helpers import TINY_ANY, assert_picture

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def few_steps():
    """Transfer classifiers train for the epochs asked, not the 400-step minimum: plumbing, not accuracy."""
    from mnistmax.analysis import transfer
    from mnistmax.training import classifier

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transfer, "MIN_STEPS", 10)
        patch.setattr(classifier, "MIN_STEPS", 10)
        yield


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ae")
    result = runner.invoke(app, ["train", "-c", "configs/models/conv_ae.yaml", *TINY_ANY, f"logging.output_dir={out}"])
    assert result.exit_code == 0, result.output
    return next((out / "runs").iterdir())


def test_interpolation_endpoints_are_the_endpoints():
    za, zb = torch.randn(12), torch.randn(12)
    path = interpolation_latents(za, zb, 7)
    assert path.shape == (7, 12) and torch.equal(path[0], za) and torch.allclose(path[-1], zb)


def test_traversal_has_one_row_per_latent_dimension():
    z0, std = torch.zeros(12), torch.ones(12)
    grid = traversal_latents(z0, std, steps=9, span=3.0)
    assert grid.shape == (12, 9, 12)
    for d in range(12):
        changed = (grid[d] != z0).any(0)
        assert changed.nonzero().flatten().tolist() == [d]
    assert grid[4, 0, 4] == -3.0 and grid[4, -1, 4] == 3.0


def test_latent_commands_write_pictures(ae_run):
    for args, name in ((["interpolate", "--a", "0", "--b", "3"], "interpolate"),
                       (["sample", "--mode", "normal"], "samples_normal"),
                       (["sample"], "samples_fitted"),  # an autoencoder's default, as Model.sample's
                       (["traverse"], "traverse"), (["arithmetic", "--expr", "7-1+4"], "arithmetic"), (["pca"], "pca")):
        result = runner.invoke(app, ["latent", args[0], str(ae_run), *args[1:]])
        assert result.exit_code == 0, result.output
        assert_picture(ae_run / "grids" / f"latent_{name}.png")
    bad = runner.invoke(app, ["latent", "arithmetic", str(ae_run), "--expr", "7*2"])
    assert bad.exit_code == 2 and "joined by + and -" in bad.output


def test_eval_reports_reconstruction(ae_run):
    result = runner.invoke(app, ["eval", str(ae_run)])
    assert result.exit_code == 0, result.output
    row = json.loads((ae_run / "eval" / "eval.json").read_text())[0]
    assert row["method"] == "conv_ae" and 0 < row["mse"] < 0.5 and row["n"] == 40
    # mean of per-image PSNR >= PSNR of the mean MSE (Jensen: -log is convex)
    assert row["psnr"] >= 10 * math.log10(1 / row["mse"]) - 1e-6


def test_frozen_keeps_and_finetune_changes_the_encoder(ae_run, tmp_path):
    model, encoder, base = encoder_state(ae_run)
    assert model == {"name": "cnn_classifier", "latent_dim": 12}
    for mode, should_change in (("frozen", False), ("finetune", True)):
        cfg = classifier_config(base, model, 50, overrides=["train.epochs=1", "data.batch_size=16"])
        row = train_classifier(cfg, mode, encoder, tmp_path / mode, train)
        after = load_run(row["run_dir"], "best").task.net.encoder.state_dict()
        changed = any(not torch.equal(after[k], encoder[k]) for k in encoder)
        assert changed == should_change, mode
        assert row["labels_per_class"] == 5 and row["n_train"] == 50 and 0 <= row["test_acc"] <= 1
    assert row["trainable_params"] > 0


def test_transfer_command_and_label_parsing(ae_run):
    assert parse_labels("10,100,all") == [10, 100, None]
    with pytest.raises(MnistmaxError, match="not a positive number"):
        parse_labels("10,lots")
    result = runner.invoke(app, ["transfer", "--encoder-run", str(ae_run), "--mode", "scratch",
                                 "--labels-per-class", "3", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    rows = json.loads((ae_run / "eval" / "transfer.json").read_text())
    assert [(r["mode"], r["labels_per_class"]) for r in rows] == [("scratch", 3)]
    bad = runner.invoke(app, ["transfer", "--encoder-run", str(ae_run), "--mode", "magic"])
    words = " ".join(bad.output.replace("│", " ").split())  # click's usage message, unwrapped
    assert bad.exit_code == 2 and "'magic' is not one of 'scratch', 'frozen', 'finetune', 'all'" in words
