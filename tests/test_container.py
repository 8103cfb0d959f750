"""The Dockerfile (never built here: no container engine) says what the README promises:
the Makefile's torch pins, a pinned Python 3.11 slim base, a non-root user, `mnistmax` as the
entrypoint and the run outputs on a volume."""

import json
import re
import shlex
from pathlib import PurePosixPath

import pytest

from mnistmax.config.schema import LoggingConfig
from tests.helpers import ROOT

PINNED = ("torch", "torchvision")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, continuation lines joined."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"[ \t]*\\\n[ \t]*", " ", "\n".join(lines) + "\n")
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, args = line.strip().partition(" ")
            out.append((word.upper(), args.strip()))
    return out


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


def pins(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"\b(torch|torchvision)==([\w.+]+)", text)}


def test_instruction_parser_joins_continuations_and_drops_comments():
    text = "FROM a\n# note\nRUN x \\\n    && y \\\n    # inside\n    && z\nUSER 1000\n"
    assert instructions(text) == [("FROM", "a"), ("RUN", "x && y && z"), ("USER", "1000")]


def test_torch_pins_are_the_makefiles(dockerfile):
    makefile = pins((ROOT / "Makefile").read_text())
    assert set(makefile) == set(PINNED)
    installed = {}
    for word, args in dockerfile:
        if word == "RUN":
            installed.update(pins(args))
    assert installed == makefile
    constraints = pins((ROOT / "constraints.txt").read_text())
    assert all(constraints[name] == makefile[name] for name in constraints)  # if constraints ever pins them


def test_torch_comes_from_the_cpu_index_unless_a_build_arg_says_otherwise(dockerfile):
    args = dict(a.partition("=")[::2] for w, a in dockerfile if w == "ARG")
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    torch_run = next(a for w, a in dockerfile if w == "RUN" and "torch==" in a)
    assert '--index-url "${TORCH_INDEX}"' in torch_run


def test_base_image_is_a_pinned_python_311_slim_tag(dockerfile):
    images = [a for w, a in dockerfile if w == "FROM"]
    assert len(images) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?", images[0]), images[0]


def test_runs_as_a_non_root_user_with_mnistmax_as_entrypoint(dockerfile):
    words = [w for w, _ in dockerfile]
    assert words.count("ENTRYPOINT") == 1
    entry = words.index("ENTRYPOINT")
    users = [a for w, a in dockerfile[:entry] if w == "USER"]
    assert users, "no USER before ENTRYPOINT: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert "USER" not in words[entry:]
    command = exec_form(dockerfile[entry][1])
    assert PurePosixPath(command[0]).name == "mnistmax", command


def test_run_outputs_land_on_a_volume(dockerfile):
    workdir = [a for w, a in dockerfile if w == "WORKDIR"][-1]
    volumes = [v for w, a in dockerfile if w == "VOLUME" for v in exec_form(a)]
    # mnistmax writes runs under logging.output_dir, relative to the working directory
    assert str(PurePosixPath(workdir) / LoggingConfig().output_dir) in volumes, (workdir, volumes)


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "outputs", "data", ".git"} <= ignored
    for needed in ("pyproject.toml", "README.md", "constraints.txt", "mnistmax"):
        assert needed not in ignored
