"""The latent explorer's newer tools on untrained conv_ae and vae_conv runs (plumbing, not quality):
decoding the user's vectors, latent statistics, real digits beside generated ones and arithmetic on
chosen test digits, from the CLI and from Python."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mnistmax.analysis import latent
from mnistmax.errors import ConfigError
from mnistmax.runs import load_run
from mnistmax.tasks import build_task, load_config
from tests.helpers import ROOT, TINY_ANY, assert_picture, fake_run, invoke, one_error_line


def _run(tmp_path_factory, recipe: str):
    cfg = load_config(ROOT / "configs" / "models" / f"{recipe}.yaml", TINY_ANY)
    torch.manual_seed(0)
    return fake_run(tmp_path_factory.mktemp(recipe), {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    return _run(tmp_path_factory, "conv_ae")  # latent_dim 12, 40 test digits


@pytest.fixture(scope="module")
def space(ae_run):
    return latent.LatentSpace(load_run(ae_run))


def test_decode_takes_files_and_z_options(ae_run, space, tmp_path):
    rng = np.random.default_rng(0)
    from_npy, from_csv = rng.normal(size=(3, 12)).astype(np.float32), rng.normal(size=(2, 12))
    np.save(tmp_path / "z.npy", from_npy)
    (tmp_path / "z.csv").write_text("z0,z1,z2,z3,z4,z5,z6,z7,z8,z9,z10,z11\n"
                                    + "\n".join(",".join(f"{v:.6f}" for v in row) for row in from_csv) + "\n")
    np.save(tmp_path / "one.npy", np.zeros(12))  # one vector, shape (latent_dim,)
    z1 = "-0.5," + ",".join(["0.25"] * 11)  # a leading minus is a value, not an option
    result = invoke("latent", "decode", ae_run, "--file", tmp_path / "z.npy", "-f", tmp_path / "z.csv",
                    "-f", tmp_path / "one.npy", "--z", z1, "--z", "0 1 2 3 4 5 6 7 8 9 10 11", "--npy")
    assert result.exit_code == 0, result.output
    assert_picture(ae_run / "grids" / "latent_decode.png")
    decoded = np.load(ae_run / "grids" / "latent_decode.npy")
    assert decoded.shape == (8, 28, 28) and decoded.dtype == np.uint8
    given = np.concatenate([from_npy, from_csv, np.zeros((1, 12)), [[-0.5] + [0.25] * 11], [np.arange(12.0)]])
    expected = np.round(space.decode(torch.tensor(given, dtype=torch.float32))[:, 0].numpy() * 255)
    assert np.abs(decoded.astype(int) - expected).max() <= 1
    # from Python: the same functions, an array in
    paths = latent.decode(space, given[:2])
    assert paths == [ae_run / "grids" / "latent_decode.png"]


@pytest.mark.parametrize("make, args, words", [
    (lambda d: np.save(d / "z.npy", np.zeros((3, 5))), ["--file", "{d}/z.npy"], ["z.npy", "(3, 5)", "12"]),
    (lambda d: np.save(d / "z.npy", np.array([[np.nan] * 12])), ["--file", "{d}/z.npy"], ["z.npy", "NaN", "12"]),
    (lambda d: np.save(d / "z.npy", np.array([["a"] * 12])), ["--file", "{d}/z.npy"], ["z.npy", "<U1", "12"]),
    (lambda d: (d / "z.csv").write_text("1,2,3\n"), ["--file", "{d}/z.csv"], ["z.csv line 1", "3 numbers", "12"]),
    (lambda d: (d / "z.csv").write_text(",".join(["1"] * 12) + "\n1,x\n"), ["-f", "{d}/z.csv"],
     ["z.csv line 2", "'x' is not a number", "12"]),
    (lambda d: None, ["--z", "0.1,0.2"], ["--z '0.1,0.2'", "2 numbers", "12"]),
    (lambda d: None, ["--z", ",".join(["1"] * 11 + ["nan"])], ["--z", "NaN", "12"]),
    (lambda d: None, ["--z", "1,two"], ["--z '1,two'", "'two' is not a number", "12"]),
    (lambda d: None, ["--file", "{d}/missing.npy"], ["missing.npy: no such file"]),
    (lambda d: None, [], ["--file", "--z", "12"]),
], ids=["npy-length", "npy-nan", "npy-dtype", "csv-length", "csv-text", "z-length", "z-nan", "z-text", "missing",
        "nothing"])
def test_decode_refuses_bad_vectors_in_one_line(ae_run, tmp_path, make, args, words):
    make(tmp_path)
    result = invoke("latent", "decode", ae_run, *(a.format(d=tmp_path) for a in args))
    line = one_error_line(result)
    assert result.exit_code == 2 and all(w in line for w in words), line


def test_decode_names_a_vae_runs_latent_dim(tmp_path_factory, tmp_path):
    vae_run = _run(tmp_path_factory, "vae")
    bad = invoke("latent", "decode", vae_run, "--z", ",".join(["0"] * 12))
    assert bad.exit_code == 2 and "latent_dim 16" in one_error_line(bad)
    good = invoke("latent", "decode", vae_run, "--z", ",".join(["0"] * 16))
    assert good.exit_code == 0, good.output
    assert_picture(vae_run / "grids" / "latent_decode.png", min_size=(28, 28))


def test_latent_statistics_of_codes():
    z = torch.tensor([[0.0, 1.0, 5.0], [1.0, 3.0, 5.0], [2.0, 5.0, 5.0], [3.0, 7.0, 5.0]])
    s = latent.latent_statistics(z)
    assert np.allclose(s["mean"], [1.5, 4.0, 5.0]) and np.allclose(s["std"], z.std(0).numpy())
    assert np.allclose(s["correlation"], [[1, 1, 0], [1, 1, 0], [0, 0, 1]])  # a constant dimension correlates 0
    with pytest.raises(ConfigError, match="at least 2 codes"):
        latent.latent_statistics(z[:1])


def test_stats_prints_a_table_and_writes_json_csv_and_a_picture(ae_run, space):
    result = invoke("latent", "stats", ae_run)
    assert result.exit_code == 0, result.output
    assert "most correlated" in result.output and "z11" in result.output
    table = json.loads((ae_run / "eval" / "latent_stats_test.json").read_text())
    assert table["split"] == "test" and table["n"] == 40 and table["latent_dim"] == 12
    assert np.allclose([d["mean"] for d in table["dims"]], space.test_z.mean(0).numpy(), atol=1e-5)
    assert np.allclose([d["std"] for d in table["dims"]], space.test_z.std(0).numpy(), atol=1e-5)
    assert np.allclose(table["correlation"], np.corrcoef(space.test_z.double().numpy().T), atol=1e-5)
    lines = (ae_run / "eval" / "latent_stats_test.csv").read_text().splitlines()
    assert lines[0].startswith("dim,mean,std,min,max,corr_z0,") and len(lines) == 13
    assert_picture(ae_run / "grids" / "latent_stats_test.png")
    train = invoke("latent", "stats", ae_run, "--split", "train")
    assert train.exit_code == 0, train.output
    assert json.loads((ae_run / "eval" / "latent_stats_train.json").read_text())["n"] == len(space.train_z)
    bad = invoke("latent", "stats", ae_run, "--split", "val")
    assert bad.exit_code == 2


def test_real_digits_beside_generated_ones(ae_run, space):
    result = invoke("latent", "real-vs-generated", ae_run, "-n", "8", "--rows", "2")
    assert result.exit_code == 0, result.output
    fitted = ae_run / "grids" / "latent_real_vs_fitted.png"  # an autoencoder's default, as `sample`'s
    assert_picture(fitted)
    with Image.open(fitted) as im:
        two_rows = im.size[1]
    path = latent.real_vs_generated(space, n=8, rows=1, mode="normal")
    assert path == ae_run / "grids" / "latent_real_vs_normal.png"
    with Image.open(path) as im:
        assert im.size[1] < two_rows  # 1 + 1 rows, not 2 + 2
    too_many = invoke("latent", "real-vs-generated", ae_run, "-n", "30", "--rows", "2")
    assert too_many.exit_code == 2 and "the test split has 40" in one_error_line(too_many)


def test_expressions_parse_classes_and_test_digits():
    assert latent.parse_expression("7-1+4") == [(1, "class", 7), (-1, "class", 1), (1, "class", 4)]
    assert latent.parse_expression("#12 - #40 + #7") == [(1, "index", 12), (-1, "index", 40), (1, "index", 7)]
    assert latent.parse_expression("-#3+2") == [(-1, "index", 3), (1, "class", 2)]
    for bad in ("7*2", "#3#4", "", "#", "7-"):
        with pytest.raises(ConfigError, match="joined by \\+ and -"):
            latent.parse_expression(bad)


def test_arithmetic_on_chosen_test_digits(ae_run, space, monkeypatch):
    decoded = []
    real_decode = space.decode
    monkeypatch.setattr(space, "decode", lambda z: decoded.append(z) or real_decode(z))
    path = latent.arithmetic(space, "#3-#3+#5")
    assert torch.allclose(decoded[-1][-1], space.test_z[5], atol=1e-6)  # the result is test digit 5's code
    assert torch.equal(decoded[-1][0], space.test_z[3])  # and the operands are shown
    with Image.open(path) as im:
        with_digits = im.size[1]
    monkeypatch.undo()
    result = invoke("latent", "arithmetic", ae_run, "--expr", "7-1+4")
    assert result.exit_code == 0, result.output
    with Image.open(ae_run / "grids" / "latent_arithmetic.png") as im:
        assert im.size[1] < with_digits  # class means only: no row of test digits
    mixed = invoke("latent", "arithmetic", ae_run, "--expr", "#12-1+#7")
    assert mixed.exit_code == 0, mixed.output
    out_of_range = invoke("latent", "arithmetic", ae_run, "--expr", "#12-#99")
    assert out_of_range.exit_code == 2 and "test digit index 99 is out of range (0..39)" in one_error_line(out_of_range)
