"""Use a trained model from Python.

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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from mnistmax.data.preprocess import ImageError, to_mnist
from mnistmax.errors import MnistmaxError, RunError

# images per forward pass: on a 2-core fp32 CPU the default U-Net ran 1,280 img/s at 256, 1,170 at 32
# and 740 at 1,000 (scripts/bench_inference.py); larger batches only pay on a GPU (device="cuda")
BATCH_SIZE = 256
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


class CapabilityError(MnistmaxError):
    """A method the model's task does not support (exit code 2 on the CLI)."""

    exit_code = 2


class Classification(NamedTuple):
    digits: Any         # (B,) int64 predicted digit (a scalar for one image)
    probabilities: Any  # (B,) probability of that digit
    all: Any            # (B, classes) every class's probability


@dataclass
class Batch:
    """Images as the network takes them, and how to give results back in the input's form."""

    images: torch.Tensor  # (B, 1, 28, 28) float32 in [0, 1]
    kind: str             # tensor, array, pil, list
    shape: tuple          # the input's shape (tensor / array)
    dtype: Any            # the input's dtype (tensor / array)
    single: bool          # one image given (no batch axis)

    def images_back(self, out: torch.Tensor):
        """(B, 1, 28, 28) float outputs -> the input's kind, dtype and shape."""
        out = out.detach().float().cpu().clamp(0, 1)
        if self.kind in ("pil", "list"):
            from PIL import Image

            pictures = [Image.fromarray(np.round(o[0].numpy() * 255).astype(np.uint8)) for o in out]
            return pictures[0] if self.kind == "pil" else pictures
        if self.dtype in (torch.uint8, np.uint8, np.dtype(np.uint8)):
            out = torch.round(out * 255).to(torch.uint8)
        elif self.kind == "tensor":
            out = out.to(self.dtype)
        out = out.reshape(self.shape)
        if self.kind == "array":
            arr = out.numpy()
            return arr if arr.dtype == np.uint8 else arr.astype(self.dtype)
        return out

    def vectors_back(self, out: torch.Tensor):
        """(B, D) outputs -> a tensor or an array ((D,) for one image); lists and PIL give arrays."""
        out = out.detach().float().cpu()
        if self.single:
            out = out[0]
        return out if self.kind == "tensor" else out.numpy()


def _as_unit(x: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 / bool / integer 0-255 / float 0-1 -> float32 in [0, 1], with one-line errors."""
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if x.dtype == torch.bool:
        return x.float()
    if x.dtype.is_floating_point:
        x = x.float()
        if not torch.isfinite(x).all():
            raise ImageError(f"{what} has NaN or infinite values")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ImageError(f"{what}: float values must lie in [0, 1] (got {x.min():.3g} .. {x.max():.3g}); "
                             "pass uint8 0-255 or scale to [0, 1]")
        return x
    if not x.dtype.is_complex and x.numel() and 0 <= int(x.min()) and int(x.max()) <= 255:
        return x.float() / 255.0
    raise ImageError(f"{what}: unsupported dtype {x.dtype} (use uint8 0-255 or float 0-1)")


def _image_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ImageError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not path.is_file():
        raise ImageError(f"{path}: no such file or folder")
    return [path]


def read_image(path: str | Path) -> np.ndarray:
    """An image file as a numpy array (grayscale, colour or with alpha; 8 or 16 bits)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(img).astype(np.int64)
                return (np.clip(a, 0, 65535)).astype(np.uint16)
            if img.mode not in ("L", "LA", "RGB", "RGBA"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            a = np.asarray(img)
            if img.mode == "LA":  # gray + alpha -> RGBA for to_unit_gray
                a = np.concatenate([np.repeat(a[..., :1], 3, axis=2), a[..., 1:]], axis=2)
            return a
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageError(f"{path}: not an image file PIL can read ({str(exc).splitlines()[0][:120]})") from None


def _pil_to_array(img) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.clip(np.asarray(img).astype(np.int64), 0, 65535).astype(np.uint16)
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    return np.asarray(img)


def _one_picture(item, preprocess: bool | None) -> np.ndarray:
    """A file's or a PIL image's pixels as a (28, 28) uint8 MNIST-style digit."""
    a = read_image(item) if isinstance(item, (str, Path)) else _pil_to_array(item)
    if preprocess is False:
        from mnistmax.data.preprocess import to_unit_gray

        gray = to_unit_gray(a)
        if gray.shape != (28, 28):
            raise ImageError(f"image is {gray.shape[0]}x{gray.shape[1]}; without preprocessing it must be 28x28 "
                             "(drop preprocess=False / --no-preprocess to fit it the MNIST way)")
        return np.round(gray * 255).astype(np.uint8)
    return to_mnist(a)


def to_batch(x, preprocess: bool | None = None) -> Batch:
    """Any accepted input -> a Batch (see the module docstring)."""
    from PIL import Image

    if isinstance(x, (str, Path)):
        files = _image_files(Path(x))
        if Path(x).is_dir():
            x = files
        else:
            imgs = torch.from_numpy(_one_picture(files[0], preprocess))[None, None]
            return Batch(imgs.float() / 255.0, "pil", (28, 28), np.uint8, True)
    if isinstance(x, Image.Image):
        imgs = torch.from_numpy(_one_picture(x, preprocess))[None, None]
        return Batch(imgs.float() / 255.0, "pil", (28, 28), np.uint8, True)
    if isinstance(x, (list, tuple)):
        if not x:
            raise ImageError("empty list of images")
        items = []
        for item in x:
            if isinstance(item, (str, Path)) and Path(item).is_dir():
                items += _image_files(Path(item))
            else:
                items.append(item)
        digits = []
        for item in items:
            if isinstance(item, (str, Path, Image.Image)):
                digits.append(_one_picture(item if not isinstance(item, str) else Path(item), preprocess))
            else:
                b = to_batch(item, preprocess)
                if not b.single:
                    raise ImageError("a list must hold single images (files, PIL images or 28x28 arrays)")
                digits.append(np.round(b.images[0, 0].numpy() * 255).astype(np.uint8))
        imgs = torch.from_numpy(np.stack(digits))[:, None].float() / 255.0
        return Batch(imgs, "list", (len(digits), 28, 28), np.uint8, False)
    if isinstance(x, np.ndarray):
        kind, dtype, t = "array", x.dtype, torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        kind, dtype, t = "tensor", x.dtype, x.detach().cpu()
    else:
        raise ImageError(f"unsupported input type {type(x).__name__}: give a tensor, an array, a PIL image, "
                         "a file path or a list of them")
    shape = tuple(t.shape)
    if preprocess:
        stack = t.reshape(-1, *shape[-2:]) if len(shape) >= 2 and shape[-1] not in (3, 4) else t[None]
        digits = np.stack([to_mnist(a.numpy()) for a in stack])
        imgs = torch.from_numpy(digits)[:, None].float() / 255.0
        single = len(shape) == 2 or (len(shape) == 3 and shape[-1] in (3, 4))
        out_shape = (28, 28) if single else (len(digits), 28, 28)
        return Batch(imgs, kind, out_shape, dtype, single)
    if len(shape) == 2 and shape == (28, 28):
        imgs, single = t[None, None], True
    elif len(shape) == 3 and shape[1:] == (28, 28):
        imgs, single = t[:, None], False
    elif len(shape) == 4 and shape[1:] == (1, 28, 28):
        imgs, single = t, False
    else:
        raise ImageError(f"input shape {shape}: expected (28, 28), (B, 28, 28) or (B, 1, 28, 28); "
                         "pass preprocess=True to fit other images the MNIST way")
    if imgs.shape[0] == 0:
        raise ImageError("empty batch (0 images)")
    return Batch(_as_unit(imgs, "input"), kind, shape, dtype, single)


class Model:
    """A trained mnistmax model with the methods its task supports (`capabilities`)."""

    def __init__(self, task, cfg, source: str, run_dir: Path | None = None, checkpoint: str | None = None,
                 device: str | torch.device | None = None, batch_size: int = BATCH_SIZE):
        self.task, self.cfg, self.source = task.eval(), cfg, source
        self.run_dir, self.checkpoint = run_dir, checkpoint
        self.batch_size = batch_size
        self.to(device or "cpu")

    def __repr__(self) -> str:
        return (f"<mnistmax.Model {self.cfg.model.name} ({self.cfg.task}) from {self.source}; "
                f"can: {', '.join(sorted(self.capabilities))}>")

    @property
    def capabilities(self) -> frozenset[str]:
        return type(self.task).capabilities

    @property
    def name(self) -> str:
        return self.cfg.model.name

    def to(self, device: str | torch.device) -> "Model":
        self.device = torch.device(device)
        self.task.to(self.device)
        return self

    def _require(self, capability: str, method: str) -> None:
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

    def denoise(self, x, preprocess: bool | None = None):
        """Clean estimates of noisy digits, in the input's kind, dtype and shape."""
        self._require("denoise", "denoise")
        batch = self._inputs(x, preprocess)
        return batch.images_back(self._run(self.task.reconstruct, batch.images))

    def reconstruct(self, x, preprocess: bool | None = None):
        """The model's reconstruction of (clean) digits: an autoencoder's or VAE's output, a denoiser's output."""
        self._require("reconstruct", "reconstruct")
        batch = self._inputs(x, preprocess)
        return batch.images_back(self._run(self.task.reconstruct, batch.images))

    def embed(self, x, preprocess: bool | None = None):
        """Embeddings (B, D) of an encoder run ((D,) for one image), float32."""
        self._require("embed", "embed")
        batch = self._inputs(x, preprocess)
        return batch.vectors_back(self._run(self.task.embed, batch.images))

    def encode(self, x, preprocess: bool | None = None):
        """Latent codes (B, latent_dim) of an autoencoder or VAE (the mean for a VAE)."""
        self._require("encode", "encode")
        batch = self._inputs(x, preprocess)
        return batch.vectors_back(self._run(self.task.encode, batch.images))

    def decode(self, z):
        """Latent codes (B, latent_dim) or (latent_dim,) -> images (B, 1, 28, 28) ((1, 28, 28) for one),
        float in [0, 1], a tensor or an array like `z`."""
        self._require("decode", "decode")
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

        self._require("decode", "sample")
        if n < 1:
            raise ImageError(f"n must be at least 1 (got {n})")
        mode = mode or ("normal" if "sample" in self.capabilities else "fitted")
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
        self._require("classify", "classify")
        batch = self._inputs(x, preprocess)
        probs = self._run(self.task.classify, batch.images)
        p, digits = probs.max(1)
        if batch.single:
            probs, p, digits = probs[0], p[0], digits[0]
        if batch.kind != "tensor":
            probs, p, digits = probs.numpy(), p.numpy(), digits.numpy()
        return Classification(digits, p, probs)


def load(source: str | Path, checkpoint: str | None = None, device: str | torch.device | None = None,
         batch_size: int = BATCH_SIZE, output_dir: str | Path = "outputs") -> Model:
    """A trained model from a run directory, a run name under `output_dir`/runs, "latest", a
    checkpoint file (.ckpt), or an export folder (`mnistmax export --format safetensors`). `checkpoint` picks best / last / interrupted (default: the run's
    eval.checkpoint)."""
    from mnistmax.runs import load_run

    path = Path(source)
    if path.is_dir() and (path / "model.json").is_file() and not (path / "config.yaml").is_file():
        from mnistmax.export import load_export

        task, cfg = load_export(path)
        return Model(task, cfg, str(path), None, None, device, batch_size)
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise RunError(f"checkpoint {path} not found")
        run_dir = path.parent.parent if (path.parent.parent / "config.yaml").is_file() else None
        if run_dir is not None:
            run = load_run(run_dir, str(path))
            return Model(run.task, run.cfg, str(path), run.run_dir, str(path), device, batch_size)
        return _from_checkpoint(path, device, batch_size)
    run = load_run(source, checkpoint, output_dir)
    return Model(run.task, run.cfg, str(run.run_dir), run.run_dir, run.checkpoint, device, batch_size)


def _from_checkpoint(path: Path, device, batch_size: int) -> Model:
    """A checkpoint outside its run directory: the config stored in it rebuilds the model."""
    from mnistmax.config import read_run_config
    from mnistmax.runs import load_checkpoint
    from mnistmax.tasks import build_task

    ckpt = load_checkpoint(path)
    stored = (ckpt.get("hyper_parameters") or {}).get("config")
    if not isinstance(stored, dict):
        raise RunError(f"checkpoint {path} holds no config; load its run directory instead")
    cfg = read_run_config(stored, f"{path} (its config)")
    task = build_task(cfg)
    try:
        task.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        raise RunError(f"checkpoint {path} does not match model {cfg.model.name!r}: {str(exc).splitlines()[0][:200]}") from None
    return Model(task, cfg, str(path), None, str(path), device, batch_size)
