"""`latest` skips a run left `running` by a process that is gone (it will never finish)."""

import json
import subprocess
import sys

from mnistmax.files import orphaned, this_process
from mnistmax.runs import resolve_run


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_run(root, name, started, **meta):
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("task: denoise\n")
    (run / "meta.json").write_text(json.dumps({"started": started, **meta}))
    return run


def test_a_dead_running_run_is_not_latest_but_a_live_or_unknown_one_is(tmp_path, capsys):
    done = make_run(tmp_path, "a", "2026-12-01T10:00:00", status="completed")
    dead = make_run(tmp_path, "b", "2026-12-01T11:00:00", status="running",
                    process={**this_process(), "pid": dead_pid()})
    assert orphaned(json.loads((dead / "meta.json").read_text()))
    assert resolve_run("latest", tmp_path) == done
    assert capsys.readouterr().err == "latest: a (skipped b: left `running` by a process that is gone)\n"
    live = make_run(tmp_path, "c", "2026-12-01T12:00:00", status="running", process=this_process())
    assert resolve_run("latest", tmp_path) == live  # still training: it is the latest
    assert capsys.readouterr().err == ""  # nothing skipped, nothing said
    old = make_run(tmp_path, "d", "2026-12-01T13:00:00", status="running")  # no process recorded: cannot tell
    assert resolve_run("latest", tmp_path) == old
    other = make_run(tmp_path, "e", "2026-12-01T14:00:00", status="running",
                     process={"pid": dead_pid(), "host": "another-machine"})
    assert resolve_run("latest", tmp_path) == other  # another machine's process: cannot tell from here


def test_a_training_records_its_process(tmp_path):
    import mnistmax
    from tests.helpers import TINY

    run = mnistmax.train("quick", TINY, train__epochs=1, viz__enabled=False, output_dir=tmp_path,
                         echo=lambda m: None)
    meta = json.loads((run.run_dir / "meta.json").read_text())
    assert meta["process"] == this_process() and meta["status"] == "completed" and not orphaned(meta)
