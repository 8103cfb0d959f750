"""Plain nn.Modules. Importing this package registers every network."""

from mnistmax.models import dae, unet  # noqa: F401
