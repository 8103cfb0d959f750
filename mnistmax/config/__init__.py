"""The run configuration, with no knowledge of tasks: `schema` (pydantic sections) and `load`
(YAML, `extends:`, KEY=VALUE overrides, one-line errors). What a config means to its task
(its own sections, used keys, the network's family, `load_config`) is mnistmax.tasks.configure."""

from mnistmax.config.load import (
                                  PACKAGED,
                                  apply_overrides,
                                  config_to_dict,
                                  deep_merge,
                                  describe_error,
                                  flat_keys,
                                  keyword_overrides,
                                  merge_layer,
                                  packaged_recipes,
                                  parse_config,
                                  parse_override,
                                  read_config_file,
                                  read_config_layers,
                                  read_yaml_mapping,
                                  resolve_config,
                                  without_preset_keys,
)
from mnistmax.config.schema import ModelConfig, RunConfig

__all__ = ["PACKAGED", "ModelConfig", "RunConfig", "apply_overrides", "config_to_dict", "deep_merge", "describe_error",
           "flat_keys", "keyword_overrides", "merge_layer", "packaged_recipes", "parse_config", "parse_override",
           "read_config_file", "read_config_layers", "read_yaml_mapping", "resolve_config", "without_preset_keys"]
