"""Runs: a run given by path, name or `latest`, and loaded from one of its checkpoints
(`load_run` -> LoadedRun: the task rebuilt from the config it trained with). The files of a
run directory are mnistmax.files'."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mnistmax.errors import RunError
from mnistmax.files import find_checkpoint, load_checkpoint, orphaned, output_root, read_meta, runs_root

if TYPE_CHECKING:
    import torch

    from mnistmax.config import RunConfig
    from mnistmax.data.datamodule import Splits
    from mnistmax.tasks import BaseTask


def resolve_run(run: str | Path, output_dir: str | Path | None = None) -> Path:
    """A run given as a path, as a name under <output root>/runs, as `latest`, or as `zoo:<name>`
    (a pretrained entry, made a run directory under <output root>/zoo/ on first use). The output
    root is `output_dir`, else $MNISTMAX_OUTPUT_DIR, else outputs (mnistmax.files.output_root)."""
    from mnistmax.zoo import is_zoo, materialize

    output_dir = output_root(output_dir)
    if is_zoo(str(run)):
        return materialize(str(run), output_dir)
    path = Path(run)
    if str(run) == "latest":
        candidates = [p for p in runs_root(output_dir).glob("*/") if (p / "config.yaml").is_file()]
        if not candidates:
            raise RunError(f"no runs under {runs_root(output_dir)}; train one with `mnistmax train`")
        metas = {p: read_meta(p) for p in candidates}  # each meta.json read once
        newest_first = sorted(candidates, key=lambda p: (metas[p].get("started", ""), p.stat().st_mtime),
                              reverse=True)
        # a run left `running` by a process that is gone never finishes: the newest other run is latest
        skipped = list(itertools.takewhile(lambda p: orphaned(metas[p]), newest_first))
        if not skipped or len(skipped) == len(newest_first):
            return newest_first[0]
        chosen = newest_first[len(skipped)]
        print(f"latest: {chosen.name} (skipped {', '.join(p.name for p in skipped)}: left `running` by a "
              "process that is gone)", file=sys.stderr)
        return chosen
    for candidate in (path, runs_root(output_dir) / path):
        if (candidate / "config.yaml").is_file():
            return candidate
    if path.exists():
        raise RunError(f"{path} is not a run directory (no config.yaml)")
    raise RunError(f"run {str(run)!r} not found (give a run directory, a name under {runs_root(output_dir)}, "
                   "'latest', or zoo:<name> from `mnistmax zoo list`)")


# what `mnistmax eval RUN KEY=VALUE` may change: the data a model is scored on, the noise, the evaluation
EVAL_SECTIONS = ("data", "noise", "eval")


@dataclass
class LoadedRun:
    """A run with its model loaded (eval mode, on the device `load_run` was given: CPU by
    default), the config it was trained with and, on first use, its data splits (on the CPU:
    what runs the model moves its inputs to `device` and its outputs back). What the CLI, eval,
    analysis, report and probe share."""

    run_dir: Path
    cfg: "RunConfig"  # what it is evaluated under: the trained config with any overrides
    task: "BaseTask"
    checkpoint: str
    _splits: "Splits | None" = field(default=None, repr=False)
    trained: "RunConfig | None" = None  # the config it was trained with (None: cfg, no overrides)
    checkpoint_path: Path | None = None
    _own_val: "object | None" = field(default=None, repr=False)

    @property
    def splits(self) -> "Splits":
        if self._splits is None:
            from mnistmax.data.datamodule import load_splits

            self._splits = load_splits(self.cfg)
        return self._splits

    @property
    def device(self):
        """The torch.device the model is on."""
        return next(self.task.parameters()).device

    @property
    def trained_cfg(self) -> "RunConfig":
        return self.trained or self.cfg

    @property
    def validation_images(self):
        """The validation split of the data the run was trained on, whatever data it is evaluated
        on now: where what belongs to the model (its operating thresholds) is chosen."""
        trained = self.trained_cfg
        if trained.data == self.cfg.data and trained.seed == self.cfg.seed:
            return self.splits.val[0]
        if self._own_val is None:
            from mnistmax.data.datamodule import load_splits

            self._own_val = load_splits(trained).val[0]
        return self._own_val

    @property
    def test_images(self):
        images = self.splits.test[0]
        if len(images) == 0:
            from mnistmax.errors import DataError

            raise DataError(f"data source {self.cfg.data.source!r} at {self.cfg.data.root} has no test images")
        return images

    @property
    def test_labels(self):
        return self.splits.test[1]

    def title(self) -> str:
        return f"{self.cfg.model.name}, {self.checkpoint} checkpoint, test digits"

    def require(self, capability: str, what: str) -> None:
        """A one-line error, naming the tasks that can, when this run's task cannot `capability`."""
        self.task.require(capability, what)

    def with_overrides(self, overrides: list[str]) -> "LoadedRun":
        """The same run and weights, evaluated under `overrides` (KEY=VALUE, e.g. eval.seed=1): keys of
        the sections that can change for a trained model (EVAL_SECTIONS: the data it is scored on, the
        noise, the evaluation); any other key (model.*, train.*, ...) is refused in one line, since
        the weights would not follow it."""
        from mnistmax.config import apply_overrides, config_to_dict, parse_override
        from mnistmax.errors import ConfigError
        from mnistmax.tasks import validate_config

        if not overrides:
            return self
        explicit = {".".join(parse_override(o)[0]) for o in overrides}
        for key in sorted(explicit):
            if key.split(".")[0] not in EVAL_SECTIONS:
                raise ConfigError(f"override {key}: a trained model is evaluated under {', '.join(EVAL_SECTIONS)} "
                                  f"keys only (its {key.split('.')[0]} is what trained it: "
                                  f"{self.run_dir / 'config.yaml'}); train a new run to change it")
        cfg = validate_config(apply_overrides(config_to_dict(self.cfg), overrides), "override", explicit)
        splits = self._splits if cfg.data == self.cfg.data and cfg.seed == self.cfg.seed else None
        return LoadedRun(self.run_dir, cfg, self.task, self.checkpoint, splits, self.trained_cfg, self.checkpoint_path)


def load_run(run: str | Path, checkpoint: str | None = None, output_dir: str | Path | None = None,
             device: "str | torch.device | None" = "cpu") -> LoadedRun:
    """Load a run (a directory, a name under <output root>/runs, `latest` or zoo:<name>; the
    root as resolve_run says) from one checkpoint: `checkpoint` (best, last, interrupted, or a
    .ckpt path), else the config's eval.checkpoint, onto `device` (cpu, cuda, cuda:N, mps or
    auto; a device this machine lacks is refused before anything is read or written). The
    network and task are rebuilt from the config stored in the checkpoint: what trained."""
    from mnistmax.config import read_yaml_mapping
    from mnistmax.hardware import resolve_device
    from mnistmax.tasks import build_task, read_run_config

    device = resolve_device(device)
    run_dir = resolve_run(run, output_dir)
    saved = read_run_config(read_yaml_mapping(run_dir / "config.yaml"), str(run_dir / "config.yaml"))
    which = checkpoint or saved.eval.checkpoint
    ckpt_path = find_checkpoint(run_dir, which)
    ckpt = load_checkpoint(ckpt_path)
    stored = (ckpt.get("hyper_parameters") or {}).get("config")
    cfg = read_run_config(stored, f"{ckpt_path} (its config)") if isinstance(stored, dict) else saved
    task = build_task(cfg)
    try:
        task.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:  # missing / unexpected keys, size mismatches
        detail = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), "")[:200]
        raise RunError(f"checkpoint {ckpt_path} does not match model {cfg.model.name!r}: {detail}") from None
    return LoadedRun(run_dir, cfg, task.eval().to(device), which, checkpoint_path=ckpt_path)
