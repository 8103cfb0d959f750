"""The tool without the Makefile: recipes by name, version, extras that say how to get them."""

import pytest

from mnistmax import __version__
from mnistmax.config.load import PACKAGED, packaged_recipes, resolve_config
from mnistmax.errors import ConfigError
from mnistmax.tasks import load_config
from tests.helpers import ROOT, hide_module, invoke, one_error_line


def test_recipes_ship_inside_the_package_and_resolve_by_name(tmp_path, monkeypatch):
    assert PACKAGED.parent.name == "mnistmax" and (PACKAGED / "mnist.yaml").is_file()
    assert {"mnist", "quick", "models/simclr", "grid/denoise"} <= set(packaged_recipes())
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    assert resolve_config("models/simclr") == PACKAGED / "models" / "simclr.yaml"
    assert resolve_config("mnist.yaml") == PACKAGED / "mnist.yaml"
    assert load_config("mnist").model.name == "unet_dae"
    (tmp_path / "mnist.yaml").write_text("extends: " + str(PACKAGED / "quick.yaml") + "\nname: mine\n")
    assert load_config("mnist.yaml").name == "mine"  # a file at the path wins over the recipe


def test_repository_configs_folder_is_the_packaged_one():
    assert (ROOT / "configs").resolve() == PACKAGED


def test_unknown_recipe_lists_the_names():
    with pytest.raises(ConfigError, match="no shipped recipe of that name .*models/simclr"):
        resolve_config("nope")
    result = invoke("config", "show", "-c", "nope")
    assert result.exit_code == 2 and "models/simclr" in one_error_line(result)


def test_version_and_config_list():
    assert invoke("--version").output.strip() == f"mnistmax {__version__}"
    listed = invoke("config", "list").output
    assert "models/simclr" in listed and "SimCLR" in listed


def test_mlflow_missing_says_which_extra(monkeypatch):
    from mnistmax.training.tracking import require_mlflow

    hide_module(monkeypatch, "mlflow")
    with pytest.raises(ConfigError, match=r"pip install 'mnistmax\[mlflow\]'"):
        require_mlflow()
