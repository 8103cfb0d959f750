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
    with pytest.raises(ConfigError, match=r"MLflow tracking .* needs mlflow, which is not installed \(the mlflow "
                       r"extra\): pip install 'mlflow>=2.12'; from a checkout: pip install -e '\.\[mlflow\]'"):
        require_mlflow()


def test_hints_name_the_extras_packages_from_the_installed_metadata():
    from importlib import metadata

    from mnistmax.errors import install_hint

    extras = {r.split("extra ==")[1].strip(" '\"") for r in metadata.requires("mnistmax") if "extra ==" in r}
    assert {"search", "mlflow", "tensorboard", "export", "postgres", "docs"} <= extras
    assert install_hint("search") == "pip install 'optuna<6,>=4'; from a checkout: pip install -e '.[search]'"
    assert install_hint("export").startswith("pip install 'onnx>=1.16' 'onnxruntime>=1.18'; ")


def test_search_without_optuna_is_one_line_exit_2(tmp_path, monkeypatch):
    hide_module(monkeypatch, "optuna")
    monkeypatch.chdir(tmp_path)
    result = invoke("grid", "-c", "grid/denoise")
    line = one_error_line(result)
    assert result.exit_code == 2
    assert "mnistmax search and grid needs optuna" in line and "pip install -e '.[search]'" in line
    assert not (tmp_path / "outputs").exists()


def test_optuna_is_not_a_core_dependency_and_nothing_outside_search_imports_it():
    import ast
    from importlib import metadata

    core = [r for r in metadata.requires("mnistmax") if "extra ==" not in r]
    assert not any(r.lower().startswith("optuna") for r in core)
    for path in (ROOT / "mnistmax").rglob("*.py"):
        if path.parent.name == "experiments":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "optuna" for n in names), path


def test_licence_citation_changelog_and_version_agree():
    import tomllib
    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text()
    assert project["dynamic"] == ["version"]  # mnistmax/_version.py is the one place
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == __version__ and citation["license"] == project["license"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in changelog
    assert (ROOT / "mnistmax" / "py.typed").is_file()


def test_your_own_file_extends_a_recipe_by_name_and_a_redirect_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.yaml").write_text("extends: quick\nname: mine\ntrain: {epochs: 1}\n")
    cfg = load_config("my.yaml")
    assert cfg.name == "mine" and cfg.train.epochs == 1 and cfg.model.name == load_config("quick").model.name
    (tmp_path / "quick.yaml").write_text("")  # `mnistmax config show -c quick > quick.yaml`: the shell made it
    assert resolve_config("quick") == PACKAGED / "quick.yaml"
    assert resolve_config("quick.yaml").resolve() == tmp_path / "quick.yaml"  # the exact path still wins
    (tmp_path / "mine.yaml").write_text("extends: quick\n")
    assert resolve_config("mine").resolve() == tmp_path / "mine.yaml"  # no recipe of that name: the file with .yaml
