"""The command line's surface, walked over every command: fixed sets of values are real choices
(listed in --help, completed, a bad one exits 2 naming the valid ones), boolean options are
plain flags, `-o` is a file for one-file commands and a folder for the others, and the top
level groups its commands into panels."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from mnistmax.analysis.modes import LATENT_SPLITS, SAMPLE_MODES, TRANSFER_MODES
from mnistmax.cli import app
from mnistmax.cli.common import PANELS, _complete_checkpoint
from mnistmax.data.noise import NOISE
from mnistmax.exported import FORMATS
from mnistmax.files import CHECKPOINTS
from mnistmax.zoo import ENTRIES
from tests.helpers import fake_run, one_error_line, tiny_config

runner = CliRunner()
WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}  # one line per row: values never wrap


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def flat(output: str) -> str:
    """The output as one line of words (rich boxes and wrapping removed)."""
    return " ".join(output.replace("│", " ").split())


def commands(group=None, path=()):
    """(path, click command) for every command and sub-command of the app, groups included."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


ALL = [path for path, _ in commands()]


def test_every_command_is_walked():
    assert {("export",), ("denoise",), ("zoo", "build"), ("latent", "sample"), ("compare", "limitations")} <= set(ALL)


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "mnistmax")
def test_boolean_options_render_as_flags(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "BOOLEAN" not in result.output
    assert "--help" in result.output


def test_help_paragraphs_are_reflowed_not_the_sources_line_breaks():
    for path, command in commands():
        if path and not getattr(command, "commands", None):  # a command (groups have their own help=)
            assert command.help and all("\n" not in para for para in command.help.split("\n\n")), path


CHOICES = [
    (["export"], "--format", FORMATS),
    (["sample"], "--mode", SAMPLE_MODES),
    (["latent", "sample"], "--mode", SAMPLE_MODES),
    (["latent", "real-vs-generated"], "--mode", SAMPLE_MODES),
    (["latent", "stats"], "--split", LATENT_SPLITS),
    (["transfer"], "--mode", (*TRANSFER_MODES, "all")),
]


@pytest.mark.parametrize("path, option, values", CHOICES, ids=lambda x: " ".join(x) if isinstance(x, list) else None)
def test_help_lists_the_choices(path, option, values):
    line = next(ln for ln in invoke(*path, "--help").output.splitlines() if option in ln)
    assert f"<{'|'.join(values)}>" in line


def test_zoo_entries_are_choices():
    assert "|".join(ENTRIES) in flat(invoke("zoo", "build", "--help").output)
    bad = invoke("zoo", "build", "no-such-entry")
    assert bad.exit_code == 2 and "no-such-entry" in flat(bad.output)
    assert all(repr(name) in flat(bad.output) for name in ENTRIES)


@pytest.mark.parametrize("args, values", [
    (["export", "RUN", "--format", "tflite"], FORMATS),
    (["sample", "RUN", "-o", "x.png", "--mode", "gauss"], SAMPLE_MODES),
    (["latent", "sample", "RUN", "--mode", "gauss"], SAMPLE_MODES),
    (["latent", "stats", "RUN", "--split", "val"], LATENT_SPLITS),
    (["transfer", "--encoder-run", "RUN", "--mode", "magic"], (*TRANSFER_MODES, "all")),
    (["compare", "limitations", "RUN", "--kind", "fog"], NOISE.names()),
], ids=lambda x: " ".join(x[:2]) if isinstance(x, list) else None)
def test_a_bad_choice_exits_2_with_the_valid_values(args, values):
    result = invoke(*args)
    text = flat(result.output)
    assert result.exit_code == 2 and "Usage:" in text and "Traceback" not in text, result.output
    assert all(v in text for v in values), text


def test_shell_completion_offers_the_choices():
    group = typer.main.get_command(app)
    export = group.commands["export"]
    ctx = typer.Context(export)
    fmt = next(p for p in export.params if p.name == "format")
    assert [c.value for c in fmt.shell_complete(ctx, "t")] == ["torchscript"]
    checkpoint = next(p for p in export.params if p.name == "checkpoint")
    assert [c.value for c in checkpoint.shell_complete(ctx, "")][:3] == list(CHECKPOINTS)
    assert _complete_checkpoint("la") == ["last"]
    kind = next(p for p in group.commands["compare"].commands["limitations"].params if p.name == "kind")
    assert {c.value for c in kind.shell_complete(ctx, "salt")} == {"salt_pepper"}


def test_checkpoint_help_names_the_checkpoints():
    line = next(ln for ln in invoke("eval", "--help").output.splitlines() if "--checkpoint" in ln)
    assert all(name in line for name in CHECKPOINTS) and ".ckpt" in line


def test_top_level_help_groups_commands_into_panels():
    result = invoke("--help")
    assert result.exit_code == 0
    titles = [ln.strip("╭─ ").split(" ─")[0] for ln in result.output.splitlines() if ln.startswith("╭─")]
    assert titles == ["Options", *PANELS]
    group = typer.main.get_command(app)
    unplaced = [name for name, c in group.commands.items() if getattr(c, "rich_help_panel", None) not in PANELS]
    assert not unplaced, f"give these commands a rich_help_panel= of cli.common.PANELS: {unplaced}"


def test_file_commands_say_file_and_folder_commands_say_folder():
    for path, word in [(["sample"], "FILE"), (["embed"], "FILE"), (["denoise"], "FOLDER"), (["export"], "FOLDER"),
                       (["compare", "models"], "FOLDER")]:
        line = next(ln for ln in invoke(*path, "--help").output.splitlines() if "--output" in ln)
        assert word in line, (path, line)


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory):
    """An untrained denoiser run: denoising writes files without training anything."""
    from mnistmax.tasks import build_task

    cfg = tiny_config()
    return fake_run(tmp_path_factory.mktemp("surface"), {"state_dict": build_task(cfg).state_dict()}, cfg=cfg)


def _picture(path, value=0):
    page = np.full((56, 56), 255, np.uint8)
    page[12:44, 24:32] = value  # a dark "1" on white, as drawn
    Image.fromarray(page).save(path)
    return path


def test_denoise_one_picture_to_a_file(denoiser, tmp_path):
    digit = _picture(tmp_path / "digit.png")
    result = invoke("denoise", denoiser, digit, "-o", tmp_path / "clean.png", "--compare")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clean.png").is_file() and (tmp_path / "clean-compare.png").is_file()
    with Image.open(tmp_path / "clean.png") as im:
        assert im.size == (28, 28) and im.format == "PNG"
    again = invoke("denoise", denoiser, digit, "-o", tmp_path / "clean.png")
    assert again.exit_code == 2 and "exists" in one_error_line(again)
    assert invoke("denoise", denoiser, digit, "-o", tmp_path / "clean.png", "--force").exit_code == 0
    bmp = invoke("denoise", denoiser, digit, "-o", tmp_path / "clean.bmp")  # written in the format it names
    assert bmp.exit_code == 0, bmp.output
    with Image.open(tmp_path / "clean.bmp") as im:
        assert im.format == "BMP"


def test_denoise_into_a_folder_still_works(denoiser, tmp_path):
    digit = _picture(tmp_path / "digit.png")
    result = invoke("denoise", denoiser, digit, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "digit.png").is_file()
    named = tmp_path / "folder.png"
    named.mkdir()  # an existing folder is a folder, whatever its name
    assert invoke("denoise", denoiser, digit, "-o", named).exit_code == 0
    assert (named / "digit.png").is_file()


def test_folder_outputs_refuse_a_file_name(denoiser, tmp_path):
    a, b = _picture(tmp_path / "a.png"), _picture(tmp_path / "b.png")
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.float32))
    for args in (["denoise", denoiser, a, b, "-o", tmp_path / "clean.png"],  # two pictures: not one file
                 ["denoise", denoiser, tmp_path / "x.npy", "-o", tmp_path / "clean.npy"],
                 ["export", denoiser, "-o", tmp_path / "model.onnx"],
                 ["compare", "models", denoiser, "-o", tmp_path / "table.html"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert "-o/--output is a folder" in one_error_line(result), args
        assert not (tmp_path / args[-1].name).exists()
    (tmp_path / "taken.txt").write_text("mine")
    result = invoke("export", denoiser, "-o", tmp_path / "taken.txt")
    assert result.exit_code == 2 and "is a file" in one_error_line(result)


def test_file_outputs_refuse_a_folder(tmp_path):
    (tmp_path / "grid.png").mkdir()
    result = invoke("sample", "RUN", "-o", tmp_path / "grid.png")
    assert result.exit_code == 2 and "is a folder" in one_error_line(result)
    result = invoke("sample", "RUN", "-o", tmp_path / "grid")
    assert result.exit_code == 2 and ".png grid or an .npy array" in one_error_line(result)
