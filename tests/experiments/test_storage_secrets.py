"""A storage URL's password never leaves the process: not in the output, not in an error line, not
in a file under the output folder (leaderboard.json), not on a worker's command line (`ps`).
The PostgreSQL server is stood in for by SQLite behind a postgresql:// URL with a password
(tests/slow/test_search_postgres.py runs a real one, password and all)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mnistmax.errors import ConfigError, RunError
from mnistmax.experiments import search as search_module
from mnistmax.experiments.storage import (
    STORAGE_ENV,
    check_storage,
    masked,
    open_storage,
    secret_kept,
    shown,
    storage_url,
)
from tests.experiments.files import search_file
from tests.experiments.test_search import fake_train
from tests.helpers import invoke, one_error_line

PASSWORD = "hunter2-Secret"
URL = f"postgresql://searcher:{PASSWORD}@db.example:5432/studies"


@pytest.mark.parametrize("url, expected", [
    (URL, "postgresql://searcher:***@db.example:5432/studies"),
    ("postgresql+psycopg://u:p%40ss%2Fw@host/db", "postgresql+psycopg://u:***@host/db"),
    ("postgresql://u:pw@[::1]:5432/db?sslmode=require", "postgresql://u:***@[::1]:5432/db?sslmode=require"),
    ("postgresql://u@host/db?password=qwerty&sslmode=require", "postgresql://u@host/db?password=***&sslmode=require"),
    ("postgresql://u:pw@host/db?sslpassword=k3y", "postgresql://u:***@host/db?sslpassword=***"),
    ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),  # an unencoded @: all of it hidden
    ("postgresql://u:@host/db", "postgresql://u:***@host/db"),
    ("journal:/tmp/x://u:pw@y/j.log", "journal:/tmp/x://u:***@y/j.log"),  # no SQLAlchemy URL: the text rule
    ("nosuch+x://u:pw@host/db", "nosuch+x://u:***@host/db"),
    ("not a url ://me:pw@there", "not a url ://me:***@there"),
])
def test_shown_hides_the_password(url, expected):
    assert shown(url) == expected


@pytest.mark.parametrize("url", [
    "sqlite:////tmp/some dir/optuna.db", "sqlite:///:memory:", "journal:/tmp/j.log", "postgresql://u@host/db",
    "postgresql://host:5432/db?sslmode=require", "mysql+pymysql://u@[::1]:3306/db",
])
def test_a_url_without_a_password_is_shown_as_it_is(url):
    assert shown(url) == url


def test_masked_hides_the_url_its_password_and_any_other_in_a_message():
    text = (f"storage {URL!r} failed: {PASSWORD} rejected (dsn host=x password=other1 dbname=y); "
            "also mysql://a:zz9@b/c")
    out = masked(text, URL)
    assert PASSWORD not in out and "other1" not in out and "zz9" not in out
    assert "'postgresql://searcher:***@db.example:5432/studies'" in out and "password=***" in out
    assert masked("a plain message: 1 of 2 trials", URL) == "a plain message: 1 of 2 trials"
    # a very short password is hidden inside its URL, not in every word that holds its letters
    assert masked("postgresql://u:ab@h/db about absent", "postgresql://u:ab@h/db") == \
        "postgresql://u:***@h/db about absent"


def test_secret_kept_masks_errors_that_quote_the_password():
    with pytest.raises(ConfigError) as caught, secret_kept(URL):
        raise ConfigError(f"study in {URL}: no")
    assert str(caught.value) == "study in postgresql://searcher:***@db.example:5432/studies: no"

    with pytest.raises(RunError) as caught, secret_kept(URL):  # a driver's error, and what it was raised from
        try:
            raise ValueError(f"bad password {PASSWORD}")
        except ValueError as exc:
            raise RuntimeError("connection lost\nsecond line") from exc
    assert str(caught.value) == "RuntimeError: connection lost" and caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the traceback does not print the ValueError

    with pytest.raises(KeyError) as caught, secret_kept(URL):  # nothing to hide: the same error
        raise KeyError("x")
    assert caught.value.args == ("x",)


def test_storage_errors_do_not_quote_the_password():
    for url in (f"nosuch://u:{PASSWORD}@x/db", f"postgresql+nosuchdriver://u:{PASSWORD}@x/db"):
        with pytest.raises(ConfigError) as caught:
            check_storage(url)
        assert PASSWORD not in str(caught.value) and "u:***@x" in str(caught.value)


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path):
    pytest.importorskip("psycopg")
    path = search_file(tmp_path)
    result = invoke("search", "-c", path, "--storage", f"postgresql://u:{PASSWORD}@127.0.0.1:9/none")
    line = one_error_line(result)
    assert result.exit_code == 2 and PASSWORD not in result.output
    assert "storage 'postgresql://u:***@127.0.0.1:9/none' cannot be opened" in line


def test_storage_comes_from_the_option_then_the_environment_then_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    assert storage_url(None, None, tmp_path) == f"sqlite:///{(tmp_path / 'optuna.db').resolve()}"
    assert storage_url("journal:file", None, tmp_path) == "journal:file"
    monkeypatch.setenv(STORAGE_ENV, URL)
    assert storage_url("journal:file", None, tmp_path) == URL
    assert storage_url("journal:file", "journal:cli", tmp_path) == "journal:cli"


@pytest.fixture
def server(tmp_path, monkeypatch):
    """URL stands for a PostgreSQL server; the study lives in SQLite. Records the URLs opened."""
    monkeypatch.setattr("mnistmax.training.train", fake_train)
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    db, opened = f"sqlite:///{tmp_path / 'stand-in.db'}", []

    def stand_in(url, *args):
        opened.append(url)
        return open_storage(db, *args)

    monkeypatch.setattr(search_module, "check_storage", lambda url: None)
    monkeypatch.setattr(search_module, "open_storage", stand_in)
    return opened


def files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_search_on_a_server_with_a_password_never_shows_it(tmp_path, server, monkeypatch):
    started = []

    class FakeWorker:  # how each worker was started; the parent's own loop then runs the trials
        def __init__(self, command, env):
            started.append((command, env))

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeWorker)
    path = search_file(tmp_path, name="secret", storage=URL)  # the password in the file's storage: ...
    result = invoke("search", "-c", path, "--workers", "2", "--no-test", "--", "train.epochs=2")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "study in postgresql://searcher:***@db.example:5432/studies" in result.output
    hint = ("other machines join with: MNISTMAX_STORAGE_URL='postgresql://searcher:***@db.example:5432/studies' "
            f"mnistmax search -c {path} --worker -- train.epochs=2 (the password in place of ***)")
    assert hint in result.output
    assert len(started) == 2
    for command, env in started:
        assert all(PASSWORD not in arg for arg in command) and "--storage" not in command  # `ps` shows nothing
        assert env[STORAGE_ENV] == URL  # the worker's environment has it, readable by the user alone
    assert server == [URL]
    out = tmp_path / "out"
    board = json.loads((out / "searches" / "secret" / "leaderboard.json").read_text())
    assert board["storage"] == "postgresql://searcher:***@db.example:5432/studies" and len(board["rows"]) == 2
    # leaderboard.*, plots, run directories, the study itself: only the user's own search file has it
    assert files_holding(tmp_path, PASSWORD) == [str(path)]

    # ... and on the command line (the user's own process; a worker's comes from the environment)
    changed = search_file(tmp_path, name="secret", space={"train.lr": [0.001, 0.005]})
    result = invoke("search", "-c", changed, "--storage", URL, "--no-test", "--", "train.epochs=2")
    line = one_error_line(result)
    assert result.exit_code == 2 and PASSWORD not in result.output
    assert ("optuna delete-study --study-name secret --storage postgresql://searcher:***@db.example:5432/studies, "
            "the password in place of ***)") in line


def test_a_worker_reads_the_storage_from_the_environment(tmp_path, server, monkeypatch):
    path = search_file(tmp_path, name="joined")
    monkeypatch.setenv(STORAGE_ENV, URL)
    result = invoke("search", "-c", path, "--worker")
    assert result.exit_code == 0, result.output
    assert server == [URL] and "ran 2 trials" in result.output and PASSWORD not in result.output


def test_failed_workers_and_unexpected_errors_do_not_quote_the_password(tmp_path, server, monkeypatch):
    class FailingWorker:
        def __init__(self, command, env):
            pass

        def wait(self):
            return 3

    monkeypatch.setattr(subprocess, "Popen", FailingWorker)
    path = search_file(tmp_path, name="failing")
    result = invoke("search", "-c", path, "--storage", URL, "--workers", "2", "--no-test")
    assert result.exit_code == 1 and PASSWORD not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: worker 1 (exit 3), 2 (exit 3) of 2 failed")
    assert "stay in the study (postgresql://searcher:***@db.example:5432/studies)" in last

    def broken(*args, **kwargs):  # an Optuna / SQLAlchemy error that quotes the URL it was given
        raise RuntimeError(f"(psycopg.OperationalError) server closed the connection; url={URL}")

    monkeypatch.setattr(search_module, "prepare_study", broken)
    result = invoke("search", "-c", path, "--storage", URL, "--no-test")
    assert result.exit_code == 1 and PASSWORD not in result.output
    assert one_error_line(result) == ("error: RuntimeError: (psycopg.OperationalError) server closed the connection; "
                                      "url=postgresql://searcher:***@db.example:5432/studies")
