"""Configs as a task sees them: a file or mapping validated (`mnistmax.config.parse_config`),
then checked against its task: the task exists, trains this network, and uses every key the
user set (`unused`); `used_config` / `dump_yaml` write only what the task uses.

    cfg = load_config("configs/mnist.yaml", ["train.epochs=3", "model.name=conv_dae"])
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Callable, Iterable

import yaml
from pydantic import ValidationError

from mnistmax.config import (
    ModelConfig,
    RunConfig,
    apply_overrides,
    config_to_dict,
    describe_error,
    flat_keys,
    merge_layer,
    parse_config,
    read_config_layers,
    without_preset_keys,
)
from mnistmax.config.load import _override_keys
from mnistmax.errors import ConfigError
from mnistmax.models import get_entry, list_models, model_options
from mnistmax.tasks.registry import TASKS


class UnusedKeyError(ConfigError):
    """A config sets a key that its task does not use."""


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                warn: Callable[[str], None] = warn_stderr) -> RunConfig:
    """File + overrides, validated. A key that the run's task does not use is an error when an
    override sets it, or when the file sets it and the file alone does not use it; it is
    named in one warning line when a base config the file extends brings it in, or when an
    override turned it off (train.ema=false on a file that sets train.ema_decay)."""
    base, own = read_config_layers(path) if path is not None else ({}, {})
    overrides = list(overrides or [])
    source = str(path) if path else None
    raw = merge_layer(base, own)
    override_keys = set().union(*(_override_keys(o) for o in overrides))
    if not overrides:
        cfg = validate_config(raw, source, flat_keys(own))  # the file uses every key it sets
    else:
        if own:
            try:  # the file on its own uses every key it sets
                validate_config(raw, source, flat_keys(own))
            except UnusedKeyError:
                raise
            except ConfigError:
                pass  # an override may mend it: judged below
        layer = apply_overrides({}, overrides)  # a preset named by an override replaces the files' noise levels
        raw = without_preset_keys(copy.deepcopy(raw), layer)
        cfg = validate_config(apply_overrides(raw, overrides), source, override_keys)
    unused = unused_keys(cfg, (flat_keys(base) | flat_keys(own)) - override_keys)
    if unused:
        why = "brought in by the config it extends" if not set(unused) & flat_keys(own) else "turned off by overrides"
        warn(f"{source}: {', '.join(unused)} ({why}) do not apply to this {cfg.task} run; they are not used")
    return cfg


def validate_config(raw: dict, source: str | None = None, explicit: Iterable[str] = ()) -> RunConfig:
    """Validate a raw mapping: its sections (mnistmax.config.parse_config), its task (registered,
    and training this network), and every key in `explicit` (what a user set) used by the task."""
    prefix = f"{source}: " if source else ""
    task = raw.get("task", RunConfig.model_fields["task"].default) if isinstance(raw, dict) else None
    if isinstance(task, str) and task not in TASKS:
        raise ConfigError(f"{prefix}task: {TASKS.unknown(task)} (got {task!r})")
    model = raw.get("model") if isinstance(raw, dict) else None
    name = model.get("name", ModelConfig.model_fields["name"].default) if isinstance(model, dict) else None
    if isinstance(task, str) and isinstance(name, str) and name in list_models():  # before the network's options
        families = TASKS.get(task).families()
        if get_entry(name).family not in families:
            valid = ", ".join(sorted(n for family in families for n in list_models(family)))
            raise ConfigError(f"{prefix}model.name: {name!r} cannot run task {task!r}; valid: {valid}")
    cfg = resolve_options(parse_config(raw, source), source)
    bad = unused_keys(cfg, explicit)
    if bad:
        reason = TASKS.get(cfg.task).unused(cfg)[_prefix_of(bad[0], cfg)]
        keys = bad[0] if len(bad) == 1 else f"{bad[0]} (and {', '.join(bad[1:])})"
        raise UnusedKeyError(f"{prefix}{keys}: not used by task {cfg.task} ({reason}); remove "
                             f"{'it' if len(bad) == 1 else 'them'}")
    return cfg


def option_sections() -> dict[str, type]:
    """Every task's own sections: {key: its options model}."""
    return {key: model for _, task in TASKS.items() for key, model in task.options.items()}


def resolve_options(cfg: RunConfig, source: str | None = None) -> RunConfig:
    """`cfg` with its task's own sections validated (defaults filled in) in place; a top-level
    key that is neither a shared section nor any task's own is an unknown key."""
    prefix = f"{source}: " if source else ""
    sections, extra = option_sections(), cfg.__pydantic_extra__
    unknown = next((k for k in extra if k not in sections), None)
    if unknown is not None:
        valid = ", ".join([*RunConfig.model_fields, *sorted(sections)])
        raise ConfigError(f"{prefix}{unknown}: unknown key; valid keys here: {valid}")
    for key, model in TASKS.get(cfg.task).options.items():
        value = extra.get(key)
        if isinstance(value, model):
            continue
        if not isinstance(value, (dict, type(None))):
            raise ConfigError(f"{prefix}{key}: a section ({', '.join(model.model_fields)}), not {value!r}")
        try:
            extra[key] = model.model_validate(value or {})
        except ValidationError as exc:
            raise ConfigError(describe_error(exc, source, model, key)) from None
    return cfg


def _prefix_of(key: str, cfg: RunConfig) -> str:
    return next(p for p in TASKS.get(cfg.task).unused(cfg) if key == p or key.startswith(p + "."))


def unused_keys(cfg: RunConfig, keys: Iterable[str]) -> list[str]:
    """Those of `keys` that the config's task does not use (sorted)."""
    unused = TASKS.get(cfg.task).unused(cfg)
    return sorted(k for k in keys if any(k == p or k.startswith(p + ".") for p in unused))


def used_config(cfg: RunConfig) -> dict:
    """The config as a mapping without the sections and keys its task does not use."""
    raw = config_to_dict(cfg)
    for prefix in TASKS.get(cfg.task).unused(cfg):
        *parents, last = prefix.split(".")
        node = raw
        for part in parents:
            node = node.get(part, {})
        node.pop(last, None)
    return raw


def dump_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML: every key that the run uses, defaults filled in."""
    return yaml.safe_dump(used_config(cfg), sort_keys=False)


LEGACY_MODEL_KEYS = ("base_ch", "num_downs", "embedding_dim", "latent_dim")


def read_run_config(raw: dict, source: str) -> RunConfig:
    """A config that mnistmax itself wrote (a run's config.yaml, a checkpoint's copy). Runs
    from before the strict model section carry base_ch, num_downs, embedding_dim and
    latent_dim for every network; those the network does not take were never used and are
    dropped here."""
    model = raw.get("model") or {}
    name = model.get("name", "unet_dae")
    try:
        takes = set(model_options(name, {}))
    except (KeyError, ValueError):
        takes = None  # an unknown network: validation names it
    if takes is not None:
        raw = {**raw, "model": {k: v for k, v in model.items() if k not in LEGACY_MODEL_KEYS or k in takes}}
    return validate_config(raw, source)
