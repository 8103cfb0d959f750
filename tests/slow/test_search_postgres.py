"""Issue 22 on a real PostgreSQL server: a throwaway cluster on a free local port, `mnistmax
search --workers 2` against it (each grid point exactly once, real tiny trainings), an extra
`--worker` that finds nothing to do, and a second run that trains nothing. The role has a password:
it is in no output, no file under the output folder, no process's command line (`ps`), and a wrong
one is one error line that does not quote it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "pg-Secret-4711"


def pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    return found or (str(PG_BIN / name) if (PG_BIN / name).is_file() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as `postgres` then (or skip)."""
    if os.getuid() != 0:
        return []
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run the server as")
    if not shutil.which("runuser"):
        pytest.skip("running as root without runuser to start the server as postgres")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def postgres_url():
    """A PostgreSQL 15 cluster in a temporary folder on 127.0.0.1:<free port>, role mnistmax with
    password PASSWORD (scram over TCP)."""
    pytest.importorskip("psycopg", reason="no PostgreSQL driver (psycopg 3): pip install 'mnistmax[postgres]'")
    initdb, pg_ctl = pg_tool("initdb"), pg_tool("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/15/bin")
    user = as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="mnistmax-pg-"))  # not under pytest's root-only tmp folders
    if user:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if user:
        shutil.chown(pwfile, "postgres", "postgres")

    def run(*args):
        done = subprocess.run([*user, *map(str, args)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    run(initdb, "-D", data, "-U", "mnistmax", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile", pwfile,
        "-E", "UTF8", "--no-sync")
    pwfile.unlink()
    run(pg_ctl, "-D", data, "-l", folder / "server.log", "-w", "-t", "60", "start",
        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -F")
    try:
        yield f"postgresql://mnistmax:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def mnistmax(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnistmax", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})


def mnistmax_watched(*args) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`mnistmax ARGS`, and every command line (/proc/*/cmdline, what `ps` shows) seen with the password
    while it ran: its own, its workers', anyone's."""
    proc = subprocess.Popen([sys.executable, "-m", "mnistmax", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    seen, workers, deadline = [], 0, time.time() + 600
    out: dict[str, str] = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())))
    reader.start()
    while reader.is_alive() and time.time() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            workers += " --worker " in text
            if PASSWORD in text:
                seen.append(text)
        time.sleep(0.2)
    reader.join(60)
    assert workers, "no worker command line was ever seen"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.get("stdout", ""), out.get("stderr", "")), seen


def files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def search_file(tmp: Path, url: str) -> Path:
    spec = {
        "name": "pg-grid", "storage": url, "sampler": "grid", "cv": {"folds": 2, "seed": 0},
        "space": {"train.lr": [0.001, 0.002, 0.003], "model.base_ch": [4, 6]},
        "base": {
            "name": "tiny", "data": {"source": "embedded", "limit_train": 96, "limit_test": 30, "batch_size": 32},
            "model": {"name": "unet_dae", "base_ch": 4},
            "noise": {"train_sigma_range": [0.0, 1.0], "test_sigmas": [0.3], "eval_kinds": ["gaussian"]},
            "train": {"epochs": 1, "max_time_minutes": None, "patience": None}, "eval": {"batch_size": 64},
            "logging": {"output_dir": str(tmp / "out"), "progress": "none", "mlflow": False},
        },
    }
    path = tmp / "search.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_two_workers_share_one_postgresql_study(tmp_path, postgres_url):
    import optuna

    path = search_file(tmp_path, postgres_url)
    first, command_lines = mnistmax_watched("search", "-c", path, "--workers", "2")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "ran 12 jobs, skipped 0 already finished" in first.stdout
    assert command_lines == []  # the workers got the URL in their environment
    assert PASSWORD not in first.stdout + first.stderr and "mnistmax:***@127.0.0.1" in first.stdout

    study = optuna.load_study(study_name="pg-grid", storage=postgres_url)
    trials = study.get_trials()
    assert len(trials) == 6 and {t.state.name for t in trials} == {"COMPLETE"}  # every point exactly once
    points = sorted((t.params["train.lr"], t.params["model.base_ch"]) for t in trials)
    assert points == sorted((lr, ch) for lr in (0.001, 0.002, 0.003) for ch in (4, 6))
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers took trials
    dirs = [f["run_dir"] for t in trials for f in t.user_attrs["folds"]]
    assert len(set(dirs)) == 12
    out = tmp_path / "out" / "searches" / "pg-grid"
    assert (out / "leaderboard.csv").is_file() and (out / "optimization_history.png").is_file()

    runs = sorted((tmp_path / "out" / "runs").iterdir())
    extra = mnistmax("search", "-c", path, "--worker")  # another machine joining a finished study
    assert extra.returncode == 0 and "ran 0 trials" in extra.stdout, extra.stderr[-2000:]
    again = mnistmax("search", "-c", path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "ran 0 jobs, skipped 12 already finished" in again.stdout and "tested before" in again.stdout
    assert sorted((tmp_path / "out" / "runs").iterdir()) == runs  # nothing trained, nothing tested again
    for done in (extra, again):
        assert PASSWORD not in done.stdout + done.stderr
    board = (out / "leaderboard.json").read_text()
    assert '"storage": "postgresql://mnistmax:***@127.0.0.1:' in board
    assert files_holding(tmp_path / "out", PASSWORD) == []

    wrong = mnistmax("search", "-c", path, "--storage", postgres_url.replace(PASSWORD, "wrong-Guess-99"))
    assert wrong.returncode == 2 and "wrong-Guess-99" not in wrong.stdout + wrong.stderr
    assert "password authentication failed" in wrong.stderr and "mnistmax:***@127.0.0.1" in wrong.stderr
