"""The pretrained zoo: every entry's recipe validates; every built entry has its files, its card
and its licence, loads by name, and reproduces its recorded numbers on its test split (within
0.2 %, eval only: `mnistmax zoo check`; one entry per task here, the others in tests/slow); a damaged or
unknown entry is one line; zoo: runs are made under outputs/, never in the package."""

import json
import shutil

import pytest
import torch

import mnistmax
from mnistmax.zoo import ENTRIES, FASHION, ZOO_DIR, built, entry, materialize
from mnistmax.zoo.build import check_entry, check_recipes, zoo_table
from tests.helpers import ROOT, invoke, one_error_line

MNIST_ENTRIES = [n for n in built() if ENTRIES[n]["dataset"] != FASHION["dataset"]]
# make test re-evaluates the first MNIST entry of every task (under a minute); tests/slow/test_zoo_slow.py
# re-evaluates all the others (the bitmap denoiser, Fashion-MNIST's too)
CHECKED_HERE = list({entry(n).meta["task"]: n for n in reversed(MNIST_ENTRIES)}.values())
MAX_MB = 10


def test_every_recipe_of_the_zoo_validates():
    check_recipes()


def test_the_zoo_is_built_and_fits_in_the_package():
    assert built(), "no zoo entry is built: `mnistmax zoo build`"
    total = sum(entry(n).size_bytes() for n in built())
    assert total < MAX_MB * 1e6


@pytest.mark.parametrize("name", built())
def test_an_entry_has_its_files_card_numbers_and_licence(name):
    e = entry(name)
    zoo = e.meta["zoo"]
    assert zoo["name"] == name and zoo["recipe"] == ENTRIES[name]["recipe"] and zoo["parameters"] > 0
    assert zoo["built"]["machine"] and zoo["built"]["precision"] and zoo["built"]["train_seconds"] > 0
    assert e.meta["metrics"]["headline"]["scores"] and e.rows()
    assert e.meta["run"] is None and e.meta["checkpoint"] is None  # no paths of the machine it was built on
    card = (e.folder / "README.md").read_text()
    assert f"zoo:{name}" in card and ENTRIES[name]["licence"] in card and "derived from the training data" in card
    model = mnistmax.load(f"zoo:{name}")
    assert model.name == e.meta["network"] and sorted(model.capabilities) == e.meta["capabilities"]


def test_the_docs_table_is_the_generated_one():
    text = (ROOT / "docs" / "ZOO.md").read_text()
    assert zoo_table() in text


@pytest.mark.parametrize("name", CHECKED_HERE)
def test_an_entry_reproduces_its_recorded_numbers(name, tmp_path):
    results = check_entry(name, tmp_path)
    assert results and all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    assert not any(ZOO_DIR.rglob("eval-zoo-check*"))  # written under tmp_path/zoo, never into the package
    assert any((tmp_path / "zoo").glob(f"{name}-*/eval/*zoo-check.json"))


def test_list_json_and_unknown_names(tmp_path):
    listed = json.loads(invoke("zoo", "list", "--json").output)
    assert [r["name"] for r in listed] == built()
    assert all({"name", "task", "network", "dataset", "metrics"} <= set(r) for r in listed)
    bad = invoke("classify", "zoo:nope", ROOT / "tests")
    assert bad.exit_code == 2 and "unknown zoo entry 'nope'; the zoo has: " + ", ".join(built()) in one_error_line(bad)


def test_a_damaged_entry_is_one_line(tmp_path, monkeypatch):
    name = built()[0]
    shutil.copytree(ZOO_DIR / name, tmp_path / "zoo" / name)
    monkeypatch.setenv("MNISTMAX_ZOO", str(tmp_path / "zoo"))
    (tmp_path / "zoo" / name / "model.safetensors").write_bytes(b"not weights")
    result = invoke("eval", f"zoo:{name}")
    assert result.exit_code == 2 and f"zoo entry {name!r} is damaged" in one_error_line(result)
    (tmp_path / "zoo" / name / "model.safetensors").unlink()
    assert "model.safetensors is missing" in one_error_line(invoke("zoo", "show", name))
    (tmp_path / "zoo" / name / "model.json").write_text("{")
    assert "model.json is unreadable" in one_error_line(invoke("eval", f"zoo:{name}"))


def test_a_zoo_run_is_made_once_per_entry_version(tmp_path):
    name = built()[0]
    first = materialize(name, tmp_path)
    assert first.parent == tmp_path / "zoo" and materialize(name, tmp_path) == first
    ckpt = torch.load(first / "checkpoints" / "best.ckpt", weights_only=True)  # plain data
    assert set(ckpt) == {"state_dict", "hyper_parameters"}


def test_a_run_packaged_into_the_zoo_must_come_from_the_entrys_recipe(tmp_path):
    import yaml

    from mnistmax.tasks import used_config
    from mnistmax.zoo import ZooError
    from mnistmax.zoo.build import check_same_recipe, recipe_config

    cfg = recipe_config("classifier", tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    raw = used_config(cfg) | {"name": "other-name"}  # the name and logging may differ
    (run / "config.yaml").write_text(yaml.safe_dump(raw))
    (run / "meta.json").write_text(json.dumps({"status": "completed"}))
    check_same_recipe("classifier", run, cfg)
    (run / "meta.json").write_text(json.dumps({"status": "stopped_early", "stop_reason": {
        "by": "train.max_time_minutes", "message": "stopped by train.max_time_minutes=1 after 3 of 15 epochs"}}))
    with pytest.raises(ZooError, match="after 3 of 15 epochs.*a time budget makes weights depend on how busy"):
        check_same_recipe("classifier", run, cfg)
    (run / "meta.json").write_text(json.dumps({"status": "completed"}))
    raw["train"]["epochs"] = 3
    (run / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ZooError, match=r"not trained by the recipe of classifier .*: train.epochs is 3"):
        check_same_recipe("classifier", run, cfg)


def test_a_fraction_may_differ_by_one_test_item_and_nothing_more():
    from mnistmax.zoo.build import allowed_difference

    assert allowed_difference(0.76, 500) >= 0.002 > allowed_difference(0.76, None)
    assert allowed_difference(0.76, 500) < 0.004  # two items are a real difference
    assert allowed_difference(27.06, 500) == pytest.approx(0.002 * 27.06, rel=1e-3)  # dB: relative only
