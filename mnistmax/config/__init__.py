"""The run configuration: `schema` (pydantic sections) and `load` (YAML, extends:,
KEY=VALUE overrides, one-line errors, the used-keys check)."""

from mnistmax.config.load import (apply_overrides, config_to_dict, deep_merge, dump_yaml, flat_keys, load_config,
                                  parse_override, read_config_file, read_run_config, read_yaml_mapping, used_config,
                                  validate_config)
from mnistmax.config.schema import RunConfig

__all__ = ["RunConfig", "apply_overrides", "config_to_dict", "deep_merge", "dump_yaml", "flat_keys", "load_config",
           "parse_override", "read_config_file", "read_run_config", "read_yaml_mapping", "used_config",
           "validate_config"]
