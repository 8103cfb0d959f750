"""mnistmax.evaluate: what `mnistmax eval` does, as a plain function (the CLI only parses)."""

import json

import pytest

import mnistmax
from mnistmax.errors import RunError
from mnistmax.training import train
from tests.helpers import invoke, tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate")
    result = train(tiny_config("viz.enabled=false", "logging.progress=none", f"logging.output_dir={out}"),
                   echo=lambda m: None)
    assert result.status == "completed" and result.epochs_completed == result.epochs_planned == 2
    assert result.best_val_loss == json.loads((result.run_dir / "meta.json").read_text())["best_val_loss"]
    return result.run_dir


def test_evaluate_returns_what_the_command_writes(run_dir):
    result = mnistmax.evaluate(run_dir, ["noise.test_sigmas=[0.3]"], tag="py")
    assert [p.name for p in result.files] == ["eval-py.json", "eval-py.csv", "eval-py.md"]
    assert json.loads(result.files[0].read_text()) == result.rows
    assert {r["sigma"] for r in result.rows} == {0.3} and result.tables[0]["rows"]
    cli = invoke("eval", run_dir, "noise.test_sigmas=[0.3]", "--tag", "cli")
    assert cli.exit_code == 0, cli.output
    assert json.loads((run_dir / "eval" / "eval-cli.json").read_text()) == result.rows  # the same numbers


def test_a_bad_tag_is_refused(run_dir):
    with pytest.raises(RunError, match="--tag 'a b'"):
        mnistmax.evaluate(run_dir, tag="a b")
