"""Plain nn.Modules. Importing this package registers every network."""

from mnistmax.models import autoencoder, dae, encoders, unet, vae  # noqa: F401
from mnistmax.models import gated  # noqa: F401,E402  (last: wraps every denoiser above)
