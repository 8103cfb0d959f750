"""Issue 9, refusing bad input: unsafe, broken and foreign checkpoints; malformed configs,
overrides and grid files through the CLI; random overrides thrown at the loader.
Interrupts, numerical faults and determinism: test_reliability_runs.py; data faults:
test_reliability_data.py; real kills and concurrent processes: tests/slow/test_reliability_slow.py."""

import os
import shlex
import string
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mnistmax.config import RunConfig, config_to_dict
from mnistmax.errors import ConfigError, RunError
from mnistmax.files import load_checkpoint
from mnistmax.runs import load_run
from mnistmax.tasks import build_task, load_config, validate_config
from tests.helpers import fake_run, invoke, one_error_line, real_checkpoint_bytes, tiny_config

# ---------------------------------------------------------------- unsafe and foreign checkpoints


class TouchOnLoad:
    """Unpickling this calls Path.touch(marker): the code a crafted checkpoint would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


class ShellOnLoad(TouchOnLoad):
    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


class ExecOnLoad(TouchOnLoad):
    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


PAYLOADS = [TouchOnLoad, ShellOnLoad, ExecOnLoad]


def crafted(payload, marker: Path) -> dict:
    return {"state_dict": {}, "epoch": 3, "hyper_parameters": {"config": payload(marker)}}


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_crafted_checkpoint_is_refused_and_its_code_never_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save(crafted(payload, marker), path)
    torch.load(path, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()
    marker.unlink()

    with pytest.raises(RunError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "refused" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("command, which", [("eval", "best"), ("train --resume", "last")])
def test_cli_refuses_a_crafted_checkpoint(tmp_path, command, which):
    marker = tmp_path / "pwned"
    run = fake_run(tmp_path, crafted(ShellOnLoad, marker), which)
    result = invoke(*command.split(), run)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert f"{which}.ckpt" in line and "refused" in line
    assert not marker.exists()
    assert not (run / "meta.json").exists()  # --resume stopped before touching the run


def test_checkpoint_of_another_model_family_names_file_and_model(tmp_path):
    vae = build_task(load_config(None, ["task=vae", "model.name=vae_conv"]))
    run = fake_run(tmp_path, {"state_dict": vae.state_dict()})
    with pytest.raises(RunError) as info:
        load_run(run)
    message = str(info.value)
    assert "best.ckpt" in message and "does not match model 'unet_dae'" in message and "\n" not in message


def test_checkpoint_of_another_size_names_the_mismatch(tmp_path):
    wider = build_task(tiny_config("model.base_ch=16"))
    run = fake_run(tmp_path, {"state_dict": wider.state_dict()})  # config.yaml says base_ch 8
    result = invoke("eval", run)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "does not match model 'unet_dae'" in line and "size mismatch" in line


@pytest.mark.parametrize(
    "make, hint",
    [
        (lambda real: real[: len(real) // 2], "truncated or corrupt"),
        (lambda real: b"", "truncated or corrupt"),
        (lambda real: real[:100] + bytes(200) + real[300:], "truncated or corrupt"),
        (lambda real: {"weights": 1}, "not an mnistmax checkpoint"),
        (lambda real: {"state_dict": [1, 2, 3]}, "not an mnistmax checkpoint"),
        (lambda real: torch.zeros(3), "not an mnistmax checkpoint"),
    ],
    ids=["truncated", "empty", "zeroed-bytes", "no-state-dict", "state-dict-a-list", "bare-tensor"],
)
def test_broken_checkpoint_is_one_line_naming_the_file(tmp_path, make, hint):
    run = fake_run(tmp_path, make(real_checkpoint_bytes(tmp_path)))
    result = invoke("eval", run)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "best.ckpt" in line and hint in line


# ---------------------------------------------------------------- malformed configs, through the CLI
# New inputs only: tests/test_config.py holds 16 overrides + 4 files + a missing file, + 2 override
# syntax errors and an `extends` cycle; tests/test_cli.py 4 more through the CLI.

BAD_FILES = [  # (file text, what the one line must say)
    ("epochs: 3\n", "epochs: unknown key"),  # unknown key at the top level
    ("model:\n  name: unet_dae\n  depth: 3\n", "model.depth: unet_dae has no such argument; valid: name, base_ch"),
    ("train: fast\n", "train: Input should be a valid dictionary"),  # a section that is not a mapping
    ("42\n", "must hold a mapping of sections, not int"),  # YAML scalar
    ("just some words\n", "must hold a mapping of sections, not str"),
    ("# only a comment\n", "is empty"),  # empty once comments are gone
    ('name: "unclosed\n', "is not valid YAML at line 2"),
    ("extends: 3\n", "extends must be a file name"),
    ("extends: nowhere.yaml\n", "nowhere.yaml' not found"),
    ("seed: 2001-13-45\n", "holds a value YAML cannot read"),  # a date that does not exist
]

BAD_OVERRIDES = [  # (overrides, what the one line must say)
    (["train.ema=maybe"], "train.ema: Input should be a valid boolean"),
    (["train.epochs=1.5"], "train.epochs: Input should be a valid integer"),
    (["train.epochs=2001-13-45"], "train.epochs: Input should be a valid integer"),
    (["model.num_downs=5"], "model.num_downs: Input should be less than or equal to 4"),
    (["data.val_fraction=1.5"], "data.val_fraction: Input should be less than 1"),
    (["train.ema_decay=1"], "train.ema_decay: Input should be less than 1"),
    (["data.limit_train=-5"], "data.limit_train: Input should be greater than 0"),
    (["train.lr=.inf"], "train.lr: Input should be a finite number"),
    (["train.lr=null"], "train.lr: Input should be a valid number"),
    (["noise.test_sigmas=0.5"], "noise.test_sigmas: Input should be a valid list"),
    (["model=3"], "model: Input should be a valid dictionary"),
    (["name=has space"], "name: String should match pattern"),
    (["vae.gamma=1"], "vae.gamma: unknown key; valid keys here: beta"),
    (["contrastive.loss=cosine"], "contrastive.loss: not used by task denoise (it has no contrastive loss)"),
    (["task=contrastive", "model={name: simple_cnn}", "contrastive.loss=cosine"],
     "contrastive.loss: unknown contrastive loss 'cosine'; valid: infonce, ntxent, supcon, triplet"),
    (["eval.checkpoint=middle"], "eval.checkpoint: must be one of 'best' or 'last'"),
    (["logging.progress=fancy"], "logging.progress: must be one of 'rich'"),
    # conflicting options: each value is valid alone
    (["task=contrastive"], "'unet_dae' cannot run task 'contrastive'; valid: resnet_enc"),
    (["model.name=simple_cnn"], "'simple_cnn' cannot run task 'denoise'; valid: "),
    (["model.name=ablation_unet_dae", "task=vae"], "'ablation_unet_dae' cannot run task 'vae'; valid: vae_conv"),
    (["train.amp=fp16", "train.accelerator=cpu"], "train.amp=fp16 needs a CUDA GPU but train.accelerator=cpu"),
    (["data.dataset=kmnist"], "data.source=embedded holds only mnist"),  # quick.yaml reads the embedded digits
]


@pytest.mark.parametrize("text, hint", BAD_FILES, ids=[h for _, h in BAD_FILES])
def test_bad_config_file_exits_2_with_one_line(tmp_path, text, hint):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = invoke("train", "-c", path, f"logging.output_dir={tmp_path / 'out'}")
    assert result.exit_code == 2
    assert hint in one_error_line(result)
    assert not (tmp_path / "out").exists()  # refused before a run directory was made


@pytest.mark.parametrize("overrides, hint", BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES])
def test_bad_override_exits_2_with_one_line(tmp_path, overrides, hint):
    result = invoke("train", "-c", "configs/quick.yaml", f"logging.output_dir={tmp_path / 'out'}", *overrides)
    assert result.exit_code == 2
    assert hint in one_error_line(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, hint",
    [
        (["train"], "train needs --config FILE"),
        (["train", "--resume", "RUN", "-c", "configs/quick.yaml"], "leave out --config and overrides"),
        (["train", "--resume", "RUN", "train.epochs=9"], "leave out --config and overrides"),
    ],
    ids=["no-config", "resume-with-config", "resume-with-override"],
)
def test_conflicting_command_line_exits_2(tmp_path, args, hint):
    run = fake_run(tmp_path, {"state_dict": {}}, "last")
    result = invoke(*[str(run) if a == "RUN" else a for a in args])
    assert result.exit_code == 2
    assert hint in one_error_line(result)


BAD_GRIDS = [  # (grid spec over configs/quick.yaml, what the one line must say)
    ({"cv": {"folds": 1}}, "cv.folds: Input should be greater than or equal to 2"),
    ({"grid": {"train.epoch": [1, 2]}}, "train.epoch: unknown key"),  # every combination validated up front
    ({"grid": {"train.lr": []}}, "grid needs at least one key with a non-empty list"),
    ({"cv": {"folds": 2, "shuffle": True}}, "cv.shuffle: Extra inputs are not permitted"),
    ({"grid": None}, "grid: Field required"),
]


@pytest.mark.parametrize("change, hint", BAD_GRIDS, ids=[h.split(":")[0] for _, h in BAD_GRIDS])
def test_bad_grid_file_exits_2_with_one_line(tmp_path, change, hint):
    spec = {"name": "g", "base": str(Path("configs/quick.yaml").resolve()), "grid": {"train.lr": [0.001]}}
    spec = {k: v for k, v in (spec | change).items() if v is not None}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = invoke("grid", "-c", path)
    assert result.exit_code == 2
    assert hint in one_error_line(result)


# ---------------------------------------------------------------- random overrides

SECTIONS = {name: list(field.annotation.model_fields) for name, field in RunConfig.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, RunConfig.__base__)}
REAL_KEYS = sorted({*RunConfig.model_fields, *(k for keys in SECTIONS.values() for k in keys)})
FAKE_KEYS = ["trian", "epoch", "datum", "model_config", "__class__", "extends", "0", "-1", "x y", "ümlaut", "True"]

key_part = st.sampled_from(REAL_KEYS + FAKE_KEYS) | st.text(string.ascii_letters + string.digits + "_-", min_size=1,
                                                              max_size=6)
dotted_key = st.lists(key_part, min_size=1, max_size=3).map(".".join)
scalar = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
          | st.text(max_size=12) | st.sampled_from(["unet_dae", "gaussian", "l1", "ntxent", "cpu", "fp16", "idx"]))
value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key_part, inner, max_size=3),
                     max_leaves=6)
yaml_text = value.map(lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**6).strip().removesuffix("..."))
raw_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x85\u2028\u2029"),
                   max_size=20)
override = st.builds(lambda k, v: f"{k}={v.strip()}", dotted_key, yaml_text | raw_text) | raw_text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(override, max_size=4))
@example(["train.epochs=2001-13-45"])  # PyYAML raised a bare ValueError for dates that do not exist
@example(["train.lr=&a [*a]", "noise={1: 2}", "train=3", "train.epochs=1"])  # self-referencing list, int keys
def test_random_overrides_give_a_config_or_a_config_error(overrides):
    try:
        cfg = load_config("configs/quick.yaml", overrides)
    except ConfigError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2
        return
    assert isinstance(cfg, RunConfig)
    assert validate_config(config_to_dict(cfg)) == cfg  # an accepted config survives config.yaml
