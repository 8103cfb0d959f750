"""KEY=VALUE overrides on `mnistmax search` and `mnistmax grid`: applied to the file's base config,
part of the study's fingerprint and of the leaderboard, refused in one line for a bad key or a key
the space sets; and --output-dir / $MNISTMAX_OUTPUT_DIR for a study (over a training that takes
no time)."""

import json
import subprocess

import optuna
import pytest

from mnistmax.experiments.spec import fingerprint, load_search
from mnistmax.files import OUTPUT_DIR_ENV
from tests.experiments.files import search_file
from tests.experiments.test_search import fake_train
from tests.helpers import invoke, one_error_line


@pytest.fixture
def trained(monkeypatch) -> list:
    """Every config a (fake, instant) training is given."""
    seen = []

    def train(cfg, echo=print, splits=None, **kwargs):
        seen.append(cfg)
        return fake_train(cfg, echo, splits, **kwargs)

    monkeypatch.setattr("mnistmax.training.train", train)
    monkeypatch.delenv(OUTPUT_DIR_ENV, raising=False)
    return seen


def test_overrides_reach_every_trial_and_the_leaderboard(tmp_path, trained):
    result = invoke("search", "-c", search_file(tmp_path), "train.epochs=3", "data.batch_size=16", "--no-test")
    assert result.exit_code == 0, result.output
    assert "overrides of the base config: train.epochs=3 data.batch_size=16" in result.output
    assert len(trained) == 4 and {(c.train.epochs, c.data.batch_size) for c in trained} == {(3, 16)}
    assert {c.train.lr for c in trained} == {0.001, 0.003}  # the space still varies its key
    out = tmp_path / "out" / "searches" / "tiny-search"
    assert json.loads((out / "leaderboard.json").read_text())["overrides"] == ["train.epochs=3", "data.batch_size=16"]
    assert "Overrides of the base config: train.epochs=3 data.batch_size=16." in (out / "leaderboard.md").read_text()


def test_a_cv_override_sets_the_search_files_folds_and_is_recorded(tmp_path, trained):
    path = search_file(tmp_path)
    assert fingerprint(load_search(path, overrides=["cv.folds=3"])) != fingerprint(load_search(path))
    result = invoke("search", "-c", path, "cv.folds=3", "train.epochs=3", "--no-test")
    assert result.exit_code == 0, result.output
    assert "overrides of the search file: cv.folds=3; of the base config: train.epochs=3" in result.output
    assert len(trained) == 2 * 3 and {c.train.epochs for c in trained} == {3}  # two points, three folds each
    out = tmp_path / "out" / "searches" / "tiny-search"
    board = (out / "leaderboard.md").read_text()
    assert "held-out fold of 3" in board and "Overrides of the search file: cv.folds=3; of the base config" in board
    assert json.loads((out / "leaderboard.json").read_text())["overrides"] == ["cv.folds=3", "train.epochs=3"]
    bad = invoke("search", "-c", path, "cv.folds=1", "--no-test")
    assert bad.exit_code == 2 and "cv.folds" in one_error_line(bad) and len(trained) == 6


def test_overrides_are_part_of_the_fingerprint(tmp_path, trained):
    path = search_file(tmp_path)
    plain = fingerprint(load_search(path))
    assert fingerprint(load_search(path, overrides=["train.epochs=3"])) != plain
    assert fingerprint(load_search(path, overrides=["train.epochs=1"])) == plain  # the base's own value: same study
    assert fingerprint(load_search(path, overrides=["logging.progress=plain"])) == plain  # logging is not the study
    assert invoke("search", "-c", path, "--no-test").exit_code == 0
    result = invoke("search", "-c", path, "train.epochs=3", "--no-test")
    assert result.exit_code == 2 and "was made from a different base config" in one_error_line(result)
    assert invoke("search", "-c", path, "train.epochs=1", "--no-test").exit_code == 0  # resumes the study
    assert len(trained) == 4


BAD = [  # (override, what its one line says)
    ("train.epoch=3", "train.epoch"),
    ("train.epochs=many", "train.epochs"),
    ("contrastive.temperature=0.3", "contrastive.temperature: not used by task denoise"),
    ("epochs", "override 'epochs' is not KEY=VALUE"),
    ("train.lr=0.01", "override 'train.lr=0.01': space.train.lr sets it in every trial"),
    ("train={lr: 0.01}", "space.train.lr sets it in every trial"),
]


@pytest.mark.parametrize("override, message", BAD, ids=[o for o, _ in BAD])
def test_a_bad_override_is_one_line_exit_2_and_writes_nothing(tmp_path, trained, override, message):
    result = invoke("search", "-c", search_file(tmp_path), override)
    assert result.exit_code == 2 and message in one_error_line(result)
    assert [p.name for p in tmp_path.iterdir()] == ["search.yaml"] and not trained


def test_grid_takes_overrides_and_refuses_its_own_keys(tmp_path, trained):
    path = search_file(tmp_path, space=None, grid={"train.lr": [0.001, 0.003]})
    result = invoke("grid", "-c", path, "train.lr=0.1")
    assert result.exit_code == 2 and "grid.train.lr sets it in every trial" in one_error_line(result)
    result = invoke("grid", "-c", path, "train.epochs=2", "--no-test")
    assert result.exit_code == 0, result.output
    assert len(trained) == 4 and {c.train.epochs for c in trained} == {2}


def test_workers_get_the_overrides_and_the_output_dir(tmp_path, trained, monkeypatch):
    started = []

    class FakeWorker:
        def __init__(self, command, env):
            started.append((command, env))

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeWorker)
    result = invoke("search", "-c", search_file(tmp_path), "train.epochs=2", "--workers", "2", "--no-test",
                    "--output-dir", tmp_path / "root")
    assert result.exit_code == 0, result.output
    url = f"sqlite:///{tmp_path / 'root' / 'optuna.db'}"
    assert started and all(env["MNISTMAX_STORAGE_URL"] == url and "--storage" not in c for c, env in started)
    assert all(c[-4:] == ["--output-dir", str(tmp_path / "root"), "--", "train.epochs=2"] for c, _ in started)


def test_the_output_dir_option_beats_the_base_and_the_base_beats_the_environment(tmp_path, trained, monkeypatch):
    path = search_file(tmp_path)  # its base says logging.output_dir: <tmp>/out
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path / "env"))
    assert invoke("search", "-c", path, "--no-test").exit_code == 0
    assert (tmp_path / "out" / "optuna.db").is_file() and not (tmp_path / "env").exists()
    assert invoke("search", "-c", path, "--no-test", "--output-dir", tmp_path / "root").exit_code == 0
    assert (tmp_path / "root" / "searches" / "tiny-search" / "leaderboard.csv").is_file()
    assert all(str(c.logging.output_dir) in (str(tmp_path / "out"), str(tmp_path / "root")) for c in trained)
    study = optuna.load_study(study_name="tiny-search", storage=f"sqlite:///{tmp_path / 'root' / 'optuna.db'}")
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
