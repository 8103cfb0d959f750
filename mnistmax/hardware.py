"""Device and precision choices, measured rather than assumed."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from mnistmax.errors import ConfigError


@functools.lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matmul units (AVX512-BF16 or AMX). On such CPUs
    bf16 autocast trained unet_dae 2.6x faster than fp32 here (796 vs 305 img/s, batch 64,
    AMD EPYC, 2 cores); without them bf16 is emulated and slower, so fp32 is kept."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def available_devices() -> list[str]:
    """The devices a model can run on here: cpu, then cuda:0 ... and mps when present."""
    cuda = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return ["cpu", *cuda, *(["mps"] if _mps_available() else [])]


def resolve_device(device: str | torch.device | None = "cpu") -> torch.device:
    """`device` (cpu, cuda, cuda:N, mps, or auto: cuda when there is a GPU, else mps, else cpu;
    None: cpu) as a torch.device; a device this machine does not have is one ConfigError line
    (exit code 2) naming it and what there is, before anything runs or is written."""
    if isinstance(device, torch.device):
        text = str(device)
    else:
        text = "cpu" if device is None else str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    here = ", ".join(available_devices())
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {text!r}: not a device; use cpu, cuda, cuda:N, mps or auto (available here: "
                          f"{here})") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {text!r}: no CUDA GPU is visible on this machine (available here: {here})")
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device {text!r}: this machine has {count} CUDA GPU{'s' * (count > 1)} "
                              f"(available here: {here})")
        return dev
    if dev.type == "mps":
        if not _mps_available():
            raise ConfigError(f"device {text!r}: Apple's MPS is not available on this machine (available here: "
                              f"{here})")
        return dev
    raise ConfigError(f"device {text!r}: mnistmax runs models on cpu, cuda, cuda:N or mps (available here: {here})")


def resolve_accelerator(accelerator: str) -> str:
    if accelerator == "auto":
        if torch.cuda.is_available():
            return "gpu"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.accelerator={accelerator}: no CUDA GPU is visible; use auto or cpu")
    return "gpu" if accelerator == "cuda" else accelerator


def resolve_precision(amp: str, accelerator: str) -> str:
    """Lightning precision string for train.amp (auto | off | bf16 | fp16) on an accelerator."""
    if amp == "off":
        return "32-true"
    if accelerator == "gpu":
        if amp == "fp16":
            return "16-mixed"
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if amp == "fp16":
        raise ConfigError("train.amp=fp16 needs a GPU; on the CPU use bf16, auto or off")
    if amp == "bf16":
        return "bf16-mixed"
    return "bf16-mixed" if accelerator == "cpu" and cpu_has_fast_bf16() else "32-true"


def resolve_channels_last(setting: str | bool, device_type: str) -> bool:
    """train.channels_last (auto | true | false) on a device type ("cpu", "cuda"/"gpu", "mps"):
    whether the network and its image batches use the channels_last memory format. `auto`
    turns it on for the CPU, where oneDNN's NHWC convolutions trained every zoo network
    faster under bf16 (unet_dae 776 vs 645 img/s, simple_cnn 2647 vs 2071; docs/PERFORMANCE.md);
    on a GPU it stays off until it has been measured there."""
    if setting != "auto":
        return bool(setting)
    return device_type == "cpu"


def use_fused_adamw(device_type: str, precision: str, grad_clip: float | None) -> bool:
    """The fused AdamW kernel (one kernel for all tensors) where it runs: CPU and CUDA; on the
    CPU it took 0.6 ms a step for unet_dae against 1.9 ms for the default per-tensor loop.
    Not with fp16 gradient scaling plus clipping: a fused step unscales internally, and
    Lightning refuses to clip gradients that are still scaled."""
    if device_type not in ("cpu", "cuda"):
        return False
    return not (precision == "16-mixed" and grad_clip)
