"""Plain nn.Modules and their registry, in timm's layout: `_registry` (a leaf: register,
variants, options, the factory) and one file per family of networks, every one imported
here, so that importing the package registers everything; no import order matters (the
`ablation_*` variants are derived from whatever is registered when names are read)."""

from mnistmax.models import autoencoder, dae, encoders, gated, unet, vae  # noqa: F401  (register)
from mnistmax.models._registry import (
                                       MODELS,
                                       ModelEntry,
                                       accepted_options,
                                       count_parameters,
                                       create_model,
                                       get_entry,
                                       keyword_names,
                                       list_models,
                                       model_options,
                                       register_model,
                                       register_variant,
)

__all__ = ["MODELS", "ModelEntry", "accepted_options", "count_parameters", "create_model", "get_entry",
           "keyword_names", "list_models", "model_options", "register_model", "register_variant"]
