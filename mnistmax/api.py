"""Train and use models from Python.

    import mnistmax
    run = mnistmax.train("quick", train__epochs=2)   # as `mnistmax train -c quick train.epochs=2`
    result = mnistmax.evaluate(run.run_dir)          # as `mnistmax eval RUN`: rows, tables, files

    import mnistmax
    m = mnistmax.load("latest")                  # a run directory, a run name, "latest" or a .ckpt
    clean = m.denoise(noisy)                     # same kind, dtype and shape as `noisy`
    z = m.embed(images); digits, p = m.classify(images); grid = m.sample(16)

Inputs: torch tensors or numpy arrays (uint8 0-255, or float 0-1) shaped (28, 28),
(B, 28, 28) or (B, 1, 28, 28); PIL images; image file paths (or a folder of them); or a list of
images or paths. Files and PIL images are turned into MNIST-style digits first
(`mnistmax.data.preprocess.to_mnist`: polarity, 20x20 box, centre of mass) unless
`preprocess=False`; arrays and tensors are used as they are unless `preprocess=True`.
Outputs come back in the input's kind: tensor in, tensor out; array in, array out; a PIL image
or a file in, a PIL image out; a list in, a list out; with the input's batch shape. Image
outputs keep the input's dtype (uint8 in, uint8 out). Large inputs run in chunks of
`batch_size`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from mnistmax.data.inputs import Batch, ImageError, to_batch
from mnistmax.errors import MnistmaxError, RunError

if TYPE_CHECKING:
    from mnistmax.config import RunConfig
    from mnistmax.training import TrainResult

# images per forward pass: on a 2-core fp32 CPU the default U-Net ran 1,280 img/s at 256, 1,170 at 32
# and 740 at 1,000 (scripts/bench_inference.py); larger batches only pay on a GPU (device="cuda")
BATCH_SIZE = 256


class CapabilityError(MnistmaxError):
    """A method the model's task does not support (exit code 2 on the CLI)."""

    exit_code = 2


class Classification(NamedTuple):
    digits: Any         # (B,) int64 predicted digit (a scalar for one image)
    probabilities: Any  # (B,) probability of that digit
    all: Any            # (B, classes) every class's probability


class Model:
    """A trained mnistmax model with the methods its task supports (`capabilities`)."""

    def __init__(self, task, cfg, source: str, run_dir: Path | None = None, checkpoint: str | None = None,
                 device: str | torch.device | None = None, batch_size: int = BATCH_SIZE,
                 threshold: float | None = None):
        self.task, self.cfg, self.source = task.eval(), cfg, source
        self.run_dir, self.checkpoint = run_dir, checkpoint
        self.batch_size = batch_size
        self.to(device or "cpu")
        # a bitmap denoiser's output is ink above this (None: the raw [0, 1] output); set it to change it
        self.threshold: float | None = threshold

    def __repr__(self) -> str:
        return (f"<mnistmax.Model {self.cfg.model.name} ({self.cfg.task}) from {self.source}; "
                f"can: {', '.join(sorted(self.capabilities))}>")

    @property
    def capabilities(self) -> frozenset[str]:
        return self.task.capabilities

    @property
    def name(self) -> str:
        return self.cfg.model.name

    @property
    def class_names(self) -> list[str] | None:
        """The names of the classes `classify` predicts (label 0 first), when the training data had them
        (a folder's class subfolders, or data.class_names); None: the labels are the names (0, 1, ...)."""
        return self.cfg.data.class_names

    def to(self, device: str | torch.device) -> "Model":
        self.device = torch.device(device)
        self.task.to(self.device)
        return self

    def require(self, capability: str, method: str) -> None:
        """One CapabilityError line when this model cannot `capability` (what `method` needs)."""
        from mnistmax.tasks import tasks_that

        if capability not in self.capabilities:
            raise CapabilityError(f"{method}() needs a model whose task can {capability} "
                                  f"({', '.join(tasks_that(capability))}); this is a {self.cfg.task} model "
                                  f"({self.name}), which can: {', '.join(sorted(self.capabilities))}")

    def _run(self, fn, images: torch.Tensor) -> torch.Tensor:
        from mnistmax.inference import batched

        return batched(fn, images, self.batch_size, module=self.task)

    def _inputs(self, x, preprocess) -> Batch:
        from mnistmax.data.datamodule import binarized

        batch = to_batch(x, preprocess)
        batch.images = binarized(batch.images, self.cfg)  # bitmap runs see 0/1 images, as in training
        return batch

    def _apply(self, capability: str, task_method: str, x, preprocess, images_out: bool):
        """The task's `task_method` over the inputs, results in the input's form."""
        self.require(capability, capability)
        batch = self._inputs(x, preprocess)
        out = self._run(getattr(self.task, task_method) if isinstance(task_method, str) else task_method, batch.images)
        return batch.images_back(out) if images_out else batch.vectors_back(out)

    def denoise(self, x, preprocess: bool | None = None):
        """Clean estimates of noisy digits, in the input's kind, dtype and shape. A bitmap denoiser's
        are 0/1 bitmaps: its output cut at `self.threshold` (the first eval.operating_point, chosen
        on the training run's validation split; set `model.threshold = None` for the raw output)."""
        if self.threshold is None:
            return self._apply("denoise", "reconstruct", x, preprocess, images_out=True)
        threshold = self.threshold
        return self._apply("denoise", lambda images: (self.task.reconstruct(images) > threshold).float(), x,
                           preprocess, images_out=True)

    def reconstruct(self, x, preprocess: bool | None = None):
        """The model's reconstruction of (clean) digits: an autoencoder's or VAE's output, a denoiser's output."""
        return self._apply("reconstruct", "reconstruct", x, preprocess, images_out=True)

    def embed(self, x, preprocess: bool | None = None):
        """Embeddings (B, D) of an encoder run ((D,) for one image), float32."""
        return self._apply("embed", "embed", x, preprocess, images_out=False)

    def encode(self, x, preprocess: bool | None = None):
        """Latent codes (B, latent_dim) of an autoencoder or VAE (the mean for a VAE)."""
        return self._apply("encode", "encode", x, preprocess, images_out=False)

    def decode(self, z):
        """Latent codes (B, latent_dim) or (latent_dim,) -> images (B, 1, 28, 28) ((1, 28, 28) for one),
        float in [0, 1], a tensor or an array like `z`."""
        self.require("decode", "decode")
        kind = "array" if isinstance(z, np.ndarray) else "tensor"
        t = torch.as_tensor(np.asarray(z) if kind == "array" else z).float()
        dim = self.task.net.latent_dim if hasattr(self.task.net, "latent_dim") else None
        single = t.ndim == 1
        t = t[None] if single else t
        if t.ndim != 2 or (dim is not None and t.shape[1] != dim):
            raise ImageError(f"latent codes of shape {tuple(np.shape(z))}: expected (B, {dim}) or ({dim},)")
        if not torch.isfinite(t).all():
            raise ImageError("latent codes have NaN or infinite values")
        out = self._run(self.task.decode, t).clamp(0, 1)
        out = out[0] if single else out
        return out if kind == "tensor" else out.numpy()

    def sample(self, n: int = 64, seed: int = 0, mode: str | None = None):
        """n new digits (n, 1, 28, 28) float tensor: a VAE decodes N(0, I); an autoencoder decodes a
        Gaussian fitted to its training latents (`mode`: normal, uniform or fitted)."""
        from mnistmax.analysis.latent import draw_latents

        self.require("decode", "sample")
        if n < 1:
            raise ImageError(f"n must be at least 1 (got {n})")
        from mnistmax.analysis.modes import default_sample_mode

        mode = mode or default_sample_mode(self.capabilities)
        if mode == "normal":
            dim = self.task.net.latent_dim
            train_z = torch.zeros(2, dim)
        else:
            from mnistmax.data.datamodule import clean_images, load_splits

            train_z = self._run(self.task.encode, clean_images(load_splits(self.cfg).train[0], self.cfg))
        z = draw_latents(train_z, n, mode, seed)
        return self._run(self.task.decode, z).clamp(0, 1)

    def classify(self, x, preprocess: bool | None = None) -> Classification:
        """Predicted digit and its probability for each image, and every class's probability."""
        self.require("classify", "classify")
        batch = self._inputs(x, preprocess)
        probs = self._run(self.task.classify, batch.images)
        p, digits = probs.max(1)
        if batch.single:
            probs, p, digits = probs[0], p[0], digits[0]
        if batch.kind != "tensor":
            probs, p, digits = probs.numpy(), p.numpy(), digits.numpy()
        return Classification(digits, p, probs)


def load(source: str | Path, checkpoint: str | None = None, device: str | torch.device | None = None,
         batch_size: int = BATCH_SIZE, output_dir: str | Path | None = None) -> Model:
    """A trained model from a run directory, a run name under `output_dir`/runs (default
    $MNISTMAX_OUTPUT_DIR, else outputs), "latest", a checkpoint file (.ckpt), or an export folder
    (`mnistmax export --format safetensors`). `checkpoint` picks best / last / interrupted
    (default: the run's eval.checkpoint); `device`: cpu (default), cuda, cuda:N, mps or auto, one
    ConfigError line when this machine has no such device."""
    from mnistmax.eval.operating import operating_threshold
    from mnistmax.hardware import resolve_device
    from mnistmax.runs import load_run

    device = resolve_device(device)
    path = Path(source)
    if path.is_dir() and (path / "model.json").is_file() and not (path / "config.yaml").is_file():
        from mnistmax.exported import load_export

        task, cfg, threshold = load_export(path)
        return Model(task, cfg, str(path), None, None, device, batch_size, threshold)
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise RunError(f"checkpoint {path} not found")
        run_dir = path.parent.parent if (path.parent.parent / "config.yaml").is_file() else None
        if run_dir is not None:
            run = load_run(run_dir, str(path), device=device)
            return Model(run.task, run.cfg, str(path), run.run_dir, str(path), device, batch_size,
                         operating_threshold(run))
        return _from_checkpoint(path, device, batch_size)
    run = load_run(source, checkpoint, output_dir, device)
    return Model(run.task, run.cfg, str(run.run_dir), run.run_dir, run.checkpoint, device, batch_size,
                 operating_threshold(run))


def _from_checkpoint(path: Path, device, batch_size: int) -> Model:
    """A checkpoint outside its run directory: the config stored in it rebuilds the model (a
    bitmap denoiser is cut at eval.threshold: its operating points are the run directory's)."""
    from mnistmax.eval.operating import fixed_threshold
    from mnistmax.files import load_checkpoint
    from mnistmax.tasks import build_task, read_run_config

    ckpt = load_checkpoint(path)
    stored = (ckpt.get("hyper_parameters") or {}).get("config")
    if not isinstance(stored, dict):
        raise RunError(f"checkpoint {path} holds no config; load its run directory instead")
    cfg = read_run_config(stored, f"{path} (its config)")
    task = build_task(cfg)
    try:
        task.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        raise RunError(f"checkpoint {path} does not match model {cfg.model.name!r}: "
                       f"{str(exc).splitlines()[0][:200]}") from None
    return Model(task, cfg, str(path), None, str(path), device, batch_size, fixed_threshold(cfg, task))


def train(config: "str | Path | RunConfig | None" = None, overrides: "list[str] | tuple[str, ...]" = (), *,
          resume: str | Path | None = None, output_dir: str | Path | None = None, echo=print, warn=None,
          **keyed) -> "TrainResult":
    """Train a model as `mnistmax train` does, and return its `TrainResult` (`.run_dir`, `.status`,
    `.best_val_loss`, `.epochs_completed`, `.seconds`; the run directory has the rest).

        run = mnistmax.train("quick")                                  # a shipped recipe by name
        run = mnistmax.train("configs/mnist.yaml", train__epochs=3)   # a file; `__` for the dots
        run = mnistmax.train("mnist", model={"name": "conv_dae"}, train={"epochs": 2, "lr": 1e-3})
        run = mnistmax.train("mnist", ["train.epochs=3"])             # the CLI's KEY=VALUE strings
        run = mnistmax.train(resume=run.run_dir)                       # continue from its last.ckpt

    `config` is a YAML file, a shipped recipe's name (`mnistmax config list`) or a validated
    `RunConfig`; `overrides` and the keyword overrides are checked like the CLI's (a key the run
    does not use is a ConfigError). `echo` gets the progress lines, `warn` the warnings (default:
    stderr). Then `mnistmax.evaluate(run.run_dir)`, `mnistmax.load(run.run_dir)`.
    `output_dir`: the root the run goes under (`output_dir`/runs/), over the config's
    logging.output_dir and $MNISTMAX_OUTPUT_DIR (mnistmax.files.output_root); with `resume`, where
    a run name or `latest` is looked up."""
    from mnistmax.config import RunConfig, keyword_overrides, read_yaml_mapping
    from mnistmax.errors import ConfigError
    from mnistmax.runs import resolve_run
    from mnistmax.tasks import load_config, read_run_config
    from mnistmax.training import train as train_run

    overrides = [*overrides, *keyword_overrides(keyed)]
    if resume is not None:
        if config is not None or overrides:
            raise ConfigError("--resume continues a run with its own config.yaml; leave out --config and overrides")
        run_dir = resolve_run(resume, output_dir)
        saved = read_run_config(read_yaml_mapping(run_dir / "config.yaml"), str(run_dir / "config.yaml"))
        return train_run(saved, echo=echo, resume_dir=run_dir)
    if isinstance(config, RunConfig):
        if overrides:
            raise ConfigError("overrides apply to a config file or recipe name; a RunConfig is used as it is "
                              "(change it with cfg.model_copy(update=...), or pass its file)")
        return train_run(config, echo=echo, output_dir=output_dir)
    if config is None:
        raise ConfigError("train needs --config FILE or a recipe name (e.g. mnist, quick; `mnistmax config list`) "
                          "or --resume RUN_DIR")
    kwargs = {} if warn is None else {"warn": warn}
    return train_run(load_config(config, overrides, **kwargs), echo=echo, output_dir=output_dir)
