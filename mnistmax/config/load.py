"""Reading configs: YAML files (with `extends:`), KEY=VALUE overrides, and the pydantic
validation of the sections (`parse_config`), with no knowledge of tasks: what a task uses
and which networks it trains are checked in `mnistmax.tasks.configure`.

Every problem raises `ConfigError` with one line that names the key and what is valid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mnistmax.config.schema import RunConfig
from mnistmax.config.section import named_preset
from mnistmax.data.augment import AUGMENT_PRESETS
from mnistmax.data.noise import PRESETS
from mnistmax.errors import ConfigError


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.epochs=3` -> (["train", "epochs"], 3); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE (e.g. train.epochs=3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key (e.g. train.epochs=3)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, ValueError):  # ValueError: a YAML date that does not exist (2001-13-45)
        value = raw  # let validation judge it as a string
    check_acyclic(value, f"override {key}")
    return key.split("."), value


def keyword_overrides(keyed: dict[str, Any], prefix: str = "") -> list[str]:
    """Python keyword overrides as KEY=VALUE strings: `train__epochs=3` or `train={"epochs": 3}` ->
    ["train.epochs=3"] (a dict is a section: its keys are set one by one, so each is checked like
    an override); values are written as JSON, which YAML reads back as the same value."""
    import json

    out: list[str] = []
    for key, value in keyed.items():
        name = prefix + key.replace("__", ".")
        if isinstance(value, dict) and value:
            out += keyword_overrides(value, name + ".")
            continue
        try:
            text = json.dumps(str(value) if isinstance(value, Path) else value)
        except TypeError:
            raise ConfigError(f"override {name}: {type(value).__name__} is not a config value (use numbers, "
                              "strings, booleans, None, lists or dicts)") from None
        out.append(f"{name}={text}")
    return out


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        parts, value = parse_override(text)
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])} is not a section; cannot set {'.'.join(parts)}")
            node = child
        node[parts[-1]] = value
    return raw


def read_yaml_mapping(path: str | Path) -> dict:
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError(f"config file {_shown(str(path))} not found")
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {_shown(str(path))} is not UTF-8 text (byte {exc.start}: "
                          f"{exc.object[exc.start:exc.start + 1]!r})") from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL in it, no permission
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"config file {_shown(str(path))} cannot be read ({reason})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}") from None
    except ValueError as exc:  # a value YAML cannot build, e.g. the date 2001-13-45
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(f"config file {str(path)!r} holds a value YAML cannot read ({first})") from None
    except RecursionError:  # PyYAML builds nested values recursively
        raise ConfigError(f"config file {str(path)!r} nests its values too deeply to read (a config needs a few "
                          "levels)") from None
    if raw is None:
        raise ConfigError(f"config file {str(path)!r} is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections, not {type(raw).__name__}")
    check_acyclic(raw, f"config file {str(path)!r}")
    return raw


MAX_DEPTH = 32  # levels of nesting a config value may have (a real one has three or four)
MAX_VALUES = 100_000  # values a config may hold, each use of a YAML alias counted again


def check_acyclic(value: Any, where: str) -> None:
    """A YAML alias inside its own anchor (`train: &t {lr: 0.001, x: *t}`) makes a mapping that
    contains itself, which every later step would follow forever: one ConfigError line instead.
    Shared aliases that do not loop (`a: &x {..}`, `b: *x`) are fine, unless they expand to more
    than MAX_VALUES values (a "billion laughs", which later steps would walk for hours); so is
    nesting up to MAX_DEPTH levels (deeper, later steps would exhaust Python's stack). Keys with
    control characters (which would break the one-line messages that name them) are refused too.
    Walked without recursion."""
    if not isinstance(value, (dict, list)):
        return
    stack, path, open_ids, count = [(value, children(value))], [], {id(value)}, 1
    while stack:
        node, pending = stack[-1]
        for key, child in pending:
            count += 1
            if isinstance(node, dict) and isinstance(key, str) and not key.isprintable():
                raise ConfigError(f"{where}: key {_shown('.'.join([*path, key]))} holds a line break or another "
                                  "control character; keys are names")
            if count > MAX_VALUES:
                raise ConfigError(f"{where}: holds more than {MAX_VALUES:,} values (YAML aliases repeated inside "
                                  "each other?); write a smaller config")
            if not isinstance(child, (dict, list)):
                continue
            if id(child) in open_ids:
                raise ConfigError(f"{where}: {'.'.join([*path, str(key)])} contains itself (a YAML alias "
                                  "inside its own anchor); write the value out")
            if len(stack) >= MAX_DEPTH:
                raise ConfigError(f"{where}: {_shown('.'.join([*path, str(key)]))} nests deeper than {MAX_DEPTH} "
                                  "levels; a config needs a few")
            path.append(str(key))
            open_ids.add(id(child))
            stack.append((child, children(child)))
            break
        else:
            stack.pop()
            open_ids.discard(id(node))
            if path:
                path.pop()


def children(node: dict | list):
    """(key, value) of a mapping's items or (index, value) of a list's."""
    return iter(node.items() if isinstance(node, dict) else enumerate(node))


def _shown(value: Any, limit: int = 160) -> str:
    """repr(value), cut to about `limit` characters (a message is one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


PACKAGED = Path(__file__).resolve().parents[1] / "configs"  # the shipped recipes (package data)


def packaged_recipes() -> list[str]:
    """Names of the shipped recipes, as `-c` takes them: mnist, models/simclr, grid/denoise, ..."""
    return sorted(p.relative_to(PACKAGED).with_suffix("").as_posix() for p in PACKAGED.rglob("*.yaml"))


def resolve_config(path: str | Path) -> Path:
    """A config file given as a path, or a shipped recipe given by name (`mnist`,
    `models/simclr`, with or without .yaml): a file at the exact path wins, then the recipe, then
    the path with .yaml added (so `mnistmax config show -c quick > quick.yaml`, whose shell makes an
    empty quick.yaml first, still reads the recipe)."""
    path = Path(path)
    for candidate in (path, PACKAGED / path, PACKAGED / path.with_name(path.name + ".yaml"),
                      path.with_name(path.name + ".yaml")):
        if candidate.is_file():
            return candidate
    if path.exists():
        return path  # a folder: read_yaml_mapping says what is wrong
    names = packaged_recipes()
    raise ConfigError(f"config {str(path)!r} not found: no such file, and no shipped recipe of that name "
                      f"(recipes: {', '.join(n for n in names if n != 'base')})")


def read_config_layers(path: str | Path, _seen: tuple = ()) -> tuple[dict, dict]:
    """(what `extends:` brings in, merged; this file's own keys)."""
    path = Path(path) if _seen else resolve_config(path)
    if path.resolve() in _seen:
        raise ConfigError(f"config file {str(path)!r} extends itself (cycle through {', '.join(map(str, _seen))})")
    raw = read_yaml_mapping(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return {}, raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends must be a file name, not {_shown(parent)}")
    try:
        parent_path = extended(path, parent)
        found = parent_path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, `/`
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: extends {_shown(parent)}, which is not a config file name "
                          f"({' '.join(reason.split())[:160]})") from None
    if not found:
        raise ConfigError(f"{path}: extends {_shown(parent)}, but config file {_shown(str(parent_path))} not found")
    return read_config_file(parent_path, (*_seen, path.resolve())), raw


def extended(path: Path, parent: str) -> Path:
    """The file `extends: parent` in `path` names: relative to `path` (with or without .yaml), else a
    shipped recipe by name (`extends: quick` in your own file), else the relative path (whose
    reading says it is missing)."""
    local = path.parent / parent
    for candidate in (local, local.with_name(local.name + ".yaml"), PACKAGED / parent, PACKAGED / f"{parent}.yaml"):
        if candidate.is_file():
            return candidate
    return local


def read_config_file(path: str | Path, _seen: tuple = ()) -> dict:
    """A YAML config; `extends: other.yaml` (relative to this file) is read first and
    this file's keys are merged over it."""
    base, own = read_config_layers(path, _seen)
    return merge_layer(base, own)


def merge_layer(base: dict, layer: dict) -> dict:
    """`layer` over `base`, the base's keys that the layer's noise.preset sets left out."""
    return deep_merge(without_preset_keys(base, layer), layer)


# the sections whose `preset` names a set of their keys (the schema fills them in): {section: presets}
PRESET_SECTIONS: dict[str, dict[str, dict]] = {"noise": PRESETS, "augment": AUGMENT_PRESETS}
ALSO_REPLACED = {"train_sigma_range": "train_sigmas"}  # a preset's key that replaces another key too


def without_preset_keys(base: dict, layer: dict) -> dict:
    """When `layer` names a noise.preset or an augment.preset, `base` without the keys of that section
    the preset sets: a preset replaces what earlier layers set (the schema fills its keys in), the
    layer's own keys still win."""
    out = base
    for section, presets in PRESET_SECTIONS.items():
        name = named_preset(layer.get(section), presets)
        if name is None or not isinstance(base.get(section), dict):
            continue
        taken = set(presets[name]) | {ALSO_REPLACED[k] for k in presets[name] if k in ALSO_REPLACED}
        out = {**out, section: {k: v for k, v in base[section].items() if k not in taken}}
    return out


def _override_keys(text: str) -> set[str]:
    """The dotted keys an override sets: `noise.schedule={mode: step}` sets noise.schedule.mode."""
    path, value = parse_override(text)
    key = ".".join(path)
    return flat_keys(value, key + ".") if isinstance(value, dict) and value else {key}


def flat_keys(raw: dict, prefix: str = "") -> set[str]:
    """Dotted keys of the leaves of a nested mapping: {"train": {"lr": 1}} -> {"train.lr"}."""
    keys = set()
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        keys |= flat_keys(value, dotted + ".") if isinstance(value, dict) and value else {dotted}
    return keys


def describe_error(exc: ValidationError, source: str | None, root: type[BaseModel] | None = None,
                   at: str = "") -> str:
    """One line for the first pydantic error of a section (`root`, default RunConfig; `at`: its
    dotted key), naming the key and what is valid."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"] if not str(p).isdigit()]
    key = ".".join([*([at] if at else []), *loc]) or "<root>"
    prefix = f"{source}: " if source else ""
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if err["type"] == "extra_forbidden":
        section = _section_model(loc[:-1], root or RunConfig)
        valid = ", ".join(section.model_fields) if section else ""
        return f"{prefix}{key}: unknown key; valid keys here: {valid}{more}"
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a check across sections: its message names the keys itself
        return f"{prefix}{msg}{more}"
    nested = re.match(r"^([A-Za-z_][\w.]*): (.*)$", msg, re.S)
    if nested and isinstance(err.get("input"), dict):  # a section's check naming its own key: noise.params.blocks
        return f"{prefix}{key}.{nested[1]}: {nested[2]}{more}"
    if err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    return f"{prefix}{key}: {msg} (got {_shown(err.get('input'))}){more}"


def _section_model(loc: list[str], model: type[BaseModel]):
    for part in loc:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def config_to_dict(cfg: RunConfig) -> dict:
    return cfg.model_dump(mode="json")


def parse_config(raw: dict, source: str | None = None) -> RunConfig:
    """The sections validated (pydantic): one ConfigError line naming the key on any problem."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, source)) from None
