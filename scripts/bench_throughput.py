"""Training throughput: a full mnistmax epoch against a bare PyTorch loop on the same network.

    python scripts/bench_throughput.py                         # every model, CPU (6 min on 2 cores)
    python scripts/bench_throughput.py --models conv_dae,unet_dae --repeats 5
    python scripts/bench_throughput.py --device cuda --train-size 60000 --json gpu.json
    python scripts/bench_throughput.py --models unet_dae --sweep            # amp / channels_last / threads
    python scripts/bench_throughput.py --models unet_dae --batch-sizes 32,64,128

Both loops get the same network (same initial weights), batch size, uint8 train tensor, noise
or view function (run where the batch lives), loss, AdamW with the same parameter groups,
warmup-cosine schedule, gradient clipping, EMA update every step (when `train.ema`),
precision / autocast, memory format and train.compile. The bare loop is plain PyTorch: a permutation, a
slice, the step, `torch._foreach_lerp_` for the EMA. Repeats are interleaved (mnistmax, bare,
bare, mnistmax, ...) so both loops see the same machine load; numbers are medians.

Two phases per epoch are timed:
  train  the epoch's optimisation steps: first batch to the end of the last step and its EMA
         update (mnistmax: on_train_epoch_start -> the last on_train_batch_end). The 1.10x
         target is on this phase, steady-state epochs (all but the first).
  epoch  start of one epoch to the start of the next: train + validation with the EMA weights
         + a checkpoint. mnistmax also writes metrics.csv, best.ckpt and last.ckpt and draws its
         pictures (viz.every_n_epochs) here; `--no-viz` leaves the pictures out.
The first epoch (oneDNN kernel selection, allocator warm-up) is reported on its own, as is
the start-up before it (mnistmax: trainer.fit() -> first batch; bare: optimizer and EMA set-up).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch

from mnistmax.config import RunConfig
from mnistmax.data.datamodule import MNISTDataModule, Splits, batch_seed
from mnistmax.data.sources import DataBundle
from mnistmax.hardware import resolve_channels_last, resolve_precision, use_fused_adamw
from mnistmax.models import get_entry
from mnistmax.tasks import build_task, load_config
from mnistmax.tasks.base import warmup_cosine
from mnistmax.training import build_trainer, quiet_lightning
from mnistmax.training.callbacks.ema import ema_update

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_MODELS = ("conv_dae", "unet_dae", "resnet_dae", "attention_dae", "simple_cnn")
AUTOCAST = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def model_config(name: str, args, extra_overrides: tuple[str, ...] = ()) -> RunConfig:
    """configs/models/<name>.yaml for a denoiser, configs/models/simclr.yaml for an encoder."""
    family = get_entry(name).family
    if family == "denoise":
        path, extra = ROOT / "configs" / "models" / f"{name}.yaml", []
        if not path.is_file():
            path, extra = ROOT / "configs" / "mnist.yaml", [f"model.name={name}"]
    elif family == "encoder":
        path, extra = ROOT / "configs" / "models" / "simclr.yaml", [f"model.name={name}"]
    else:
        raise SystemExit(f"--models: {name!r} is a {family} network; this benchmark runs denoisers and encoders")
    overrides = [*extra, f"data.source={args.source}", f"train.epochs={args.epochs}", "train.patience=null",
                 "train.max_time_minutes=null", "logging.progress=plain", "logging.mlflow=false",
                 f"train.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}", *args.set, *extra_overrides]
    if args.batch_size:
        overrides.append(f"data.batch_size={args.batch_size}")
    if args.no_viz:
        overrides.append("viz.enabled=false")
    return load_config(path, overrides)


def train_split(cfg: RunConfig, size: int) -> tuple[Splits, DataBundle, bool]:
    """The config's splits with the first `size` training digits, or the split tiled when it
    is smaller (said in the output: tiled digits repeat within an epoch); loaded once."""
    data = MNISTDataModule(cfg)
    data.setup()
    images, labels = data.splits.train
    tiled = size > len(images)
    if tiled:
        reps = -(-size // len(images))
        images, labels = images.repeat(reps, 1, 1)[:size], labels.repeat(reps)[:size]
    else:
        images, labels = images[:size], labels[:size]
    return Splits((images, labels), data.splits.val, data.splits.test), data.bundle, tiled


# ---------------------------------------------------------------- measuring


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: "5" resets VmHWM, the peak resident set size, so each loop gets its own peak
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()) if sys.platform == "linux" else None
    if match:
        return int(match.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "linux" else 2**20)


def now() -> tuple[float, float]:
    """(wall clock, CPU time of this process): on a shared machine the CPU seconds of a
    single-threaded run are the steadier number; wall clock is what a user waits for."""
    return time.perf_counter(), time.process_time()


def phases(start, starts: list, train_ends: list, end) -> dict:
    bounds = [*starts, end]
    return {"startup_s": starts[0][0] - start[0],
            "train_s": [t[0] - s[0] for s, t in zip(starts, train_ends)],
            "train_cpu_s": [t[1] - s[1] for s, t in zip(starts, train_ends)],
            "epoch_s": [b[0] - a[0] for a, b in zip(bounds, bounds[1:])]}


class EpochTimer(L.Callback):
    """(wall clock, CPU time) marks of each epoch: start, end of the last optimisation step (after the
    EMA update: this callback is added after it), and the end of the fit."""

    def __init__(self, device: torch.device):
        self.device = device
        self.starts: list = []
        self.train_ends: list = []
        self.fit_end = (0.0, 0.0)

    def on_train_epoch_start(self, trainer, pl_module):
        sync(self.device)
        self.starts.append(now())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == trainer.num_training_batches - 1:
            sync(self.device)
            self.train_ends.append(now())

    def on_train_end(self, trainer, pl_module):
        sync(self.device)
        self.fit_end = now()


def run_mnistmax(cfg: RunConfig, splits: Splits, bundle: DataBundle, device: torch.device, workdir: Path) -> dict:
    """The real thing: the project's datamodule, task and build_trainer (callbacks, CSV logger)."""
    L.seed_everything(cfg.seed, verbose=False)
    data = MNISTDataModule(cfg, bundle=bundle, splits=splits)
    task = build_task(cfg)
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    timer = EpochTimer(device)  # after EMA: an epoch's training ends with its last EMA update
    trainer = build_trainer(cfg, run_dir, echo=lambda line: None, pictures=task.training_callbacks(run_dir),
                            extra=[timer])
    reset_peak_memory(device)
    start = now()
    trainer.fit(task, datamodule=data)
    return phases(start, timer.starts, timer.train_ends, timer.fit_end) | {"peak_mib": peak_memory_mib(device)}


def run_bare(cfg: RunConfig, splits: Splits, bundle: DataBundle, device: torch.device, workdir: Path) -> dict:
    """The same work in plain PyTorch. The LightningModule is used only as an nn.Module:
    `model_step` is the network and its loss, nothing else (no logging, no hooks)."""
    L.seed_everything(cfg.seed, verbose=False)
    t, bs = cfg.train, cfg.data.batch_size
    model = build_task(cfg).to(device)
    precision = resolve_precision(t.amp, "gpu" if device.type == "cuda" else "cpu")
    autocast_dtype = AUTOCAST.get(precision)
    channels_last = resolve_channels_last(t.channels_last, "gpu" if device.type == "cuda" else "cpu")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    images, labels = (x.to(device) for x in splits.train)
    val_images, val_labels = (x.to(device) for x in splits.val)
    n_batches = len(images) // bs

    reset_peak_memory(device)
    start = now()
    fused = use_fused_adamw(device.type, precision, t.grad_clip)
    optimizer = torch.optim.AdamW(model.param_groups(), lr=t.lr, fused=fused or None)
    total, warmup = n_batches * t.epochs, int(t.warmup_epochs * n_batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, warmup, total))
    scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
    ema = copy.deepcopy(model).requires_grad_(False) if t.ema else None
    ema_float = [x for x in (*ema.parameters(), *ema.buffers()) if x.is_floating_point()] if ema else []
    model_float = [x for x in (*model.parameters(), *model.buffers()) if x.is_floating_point()]
    params = [p for p in model.parameters() if p.requires_grad]
    model_step = torch.compile(model.model_step) if t.compile else model.model_step  # as BaseTask.setup does

    def step_batch(x_uint8, y, seed):
        batch = model.make_batch(x_uint8, y, torch.Generator(device=device).manual_seed(seed), True)
        if channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in batch.items()}
        return batch

    starts, train_ends, step = [], [], 0
    for epoch in range(t.epochs):
        sync(device)
        starts.append(now())
        model.train()
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch)).to(device)
        for i in range(n_batches):
            idx = order[i * bs : (i + 1) * bs]
            batch = step_batch(images[idx], labels[idx], batch_seed(7, epoch, i))
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                loss, metrics = model_step(batch, "train")
                loss = loss + metrics.pop("aux_loss", 0.0)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if t.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            schedule.step()
            if ema is not None:  # WarmupEMA's rule: the first update copies, later ones average
                with torch.no_grad():
                    if step == 0:
                        torch._foreach_copy_(ema_float, model_float)
                    else:
                        ema_update(ema_float, model_float, torch.tensor(float(step), device=device), t.ema_decay)
            step += 1
        sync(device)
        train_ends.append(now())
        evaluated = ema if ema is not None else model
        evaluated.eval()
        with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                             enabled=autocast_dtype is not None):
            val_loss = torch.zeros((), device=device)
            for i in range(0, len(val_images), cfg.eval.batch_size):
                sl = slice(i, i + cfg.eval.batch_size)
                loss, _ = evaluated.model_step(step_batch(val_images[sl], val_labels[sl], batch_seed(9, 0, i)), "val")
                val_loss += loss.detach() * len(val_images[sl])
        torch.save({"model": model.state_dict(), "ema": evaluated.state_dict(), "optimizer": optimizer.state_dict(),
                    "val_loss": float(val_loss) / len(val_images)}, workdir / "bare.ckpt")
    sync(device)
    return phases(start, starts, train_ends, now()) | {"peak_mib": peak_memory_mib(device)}


# ---------------------------------------------------------------- reporting


def summarise(runs: list[dict], images_per_epoch: int) -> dict:
    steady_train = [s for r in runs for s in r["train_s"][1:]]
    steady_cpu = [s for r in runs for s in r["train_cpu_s"][1:]]
    steady_epoch = [s for r in runs for s in r["epoch_s"][1:]]
    med = statistics.median
    return {
        "train_s": med(steady_train) if steady_train else float("nan"),
        "train_best_s": min(steady_train) if steady_train else float("nan"),
        "epoch_s": med(steady_epoch) if steady_epoch else float("nan"),
        "train_img_s": images_per_epoch / med(steady_train) if steady_train else float("nan"),
        "train_cpu_s": med(steady_cpu) if steady_cpu else float("nan"),
        "first_epoch_s": med(r["epoch_s"][0] for r in runs),
        "startup_s": med(r["startup_s"] for r in runs),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "raw": runs,
    }


def bench_model(name: str, args, device: torch.device, workdir: Path) -> dict:
    cfg = model_config(name, args)
    splits, bundle, tiled = train_split(cfg, args.train_size)
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    images = len(splits.train[0]) // cfg.data.batch_size * cfg.data.batch_size
    runs = {"mnistmax": [], "bare": []}
    for repeat in range(args.repeats):
        order = ("mnistmax", "bare") if repeat % 2 == 0 else ("bare", "mnistmax")
        for which in order:
            fn = run_mnistmax if which == "mnistmax" else run_bare
            runs[which].append(fn(cfg, splits, bundle, device, workdir))
    m, b = summarise(runs["mnistmax"], images), summarise(runs["bare"], images)
    return {
        "model": name, "task": cfg.task, "batch_size": cfg.data.batch_size, "train_images": images, "tiled": tiled,
        "precision": resolve_precision(cfg.train.amp, accelerator),
        "channels_last": resolve_channels_last(cfg.train.channels_last, accelerator),
        "ema": cfg.train.ema, "viz": cfg.viz.enabled, "mnistmax": m, "bare": b,
        "train_ratio": m["train_s"] / b["train_s"], "epoch_ratio": m["epoch_s"] / b["epoch_s"],
        "train_cpu_ratio": m["train_cpu_s"] / b["train_cpu_s"],
        "train_best_ratio": m["train_best_s"] / b["train_best_s"],
    }


SWEEP = {  # label: (overrides, threads); mnistmax runs only, interleaved like the comparison
    "default (amp auto, channels_last auto)": ((), None),
    "train.channels_last=false": (("train.channels_last=false",), None),
    "train.amp=off": (("train.amp=off",), None),
    "train.amp=off train.channels_last=false": (("train.amp=off", "train.channels_last=false"), None),
    "default, 1 thread": ((), 1),
}


def sweep_model(name: str, args, device: torch.device, workdir: Path) -> dict:
    """Steady-state training img/s of mnistmax under each SWEEP setting: what amp,
    channels_last and the thread count are worth on this machine."""
    threads = torch.get_num_threads()
    cases = {label: (model_config(name, args, overrides), n) for label, (overrides, n) in SWEEP.items()}
    splits, bundle, _ = train_split(model_config(name, args), args.train_size)
    batch = model_config(name, args).data.batch_size
    images = len(splits.train[0]) // batch * batch
    times: dict[str, list[float]] = {label: [] for label in cases}
    for repeat in range(args.repeats):
        for label in list(cases) if repeat % 2 == 0 else list(cases)[::-1]:
            cfg, n = cases[label]
            torch.set_num_threads(n or threads)
            times[label] += run_mnistmax(cfg, splits, bundle, device, workdir)["train_s"][1:]
    torch.set_num_threads(threads)
    return {"model": name, "img_s": {label: images / statistics.median(t) for label, t in times.items()}}


def sweep_batches(name: str, args, device: torch.device, workdir: Path, sizes: list[int]) -> dict:
    """Steady-state training img/s of mnistmax (default settings) at each batch size, interleaved."""
    cases = {bs: model_config(name, args, (f"data.batch_size={bs}",)) for bs in sizes}
    splits, bundle, _ = train_split(model_config(name, args), args.train_size)
    times: dict[int, list[float]] = {bs: [] for bs in sizes}
    for repeat in range(args.repeats):
        for bs in sizes if repeat % 2 == 0 else sizes[::-1]:
            times[bs] += run_mnistmax(cases[bs], splits, bundle, device, workdir)["train_s"][1:]
    return {"model": name, "img_s": {bs: len(splits.train[0]) // bs * bs / statistics.median(t) for bs,
                                     t in times.items()}}


def print_table(results: list[dict]) -> None:
    head = (f"{'model':<14}{'batch':>6}{'prec':>11}{'cl':>4} | {'mnistmax img/s':>14}{'bare img/s':>11}{'ratio':>7}"
            f"{'best':>6}{'cpu':>6} | {'epoch s':>8}{'bare':>7}{'ratio':>7} | {'1st ep s':>8}{'bare':>7} | "
            f"{'start s':>7}"
            f"{'bare':>6} | {'peak MiB':>8}{'bare':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        m, b = r["mnistmax"], r["bare"]
        print(f"{r['model']:<14}{r['batch_size']:>6}{r['precision']:>11}{'y' if r['channels_last'] else 'n':>4} |"
              f" {m['train_img_s']:>14.0f}{b['train_img_s']:>11.0f}{r['train_ratio']:>7.3f}"
              f"{r['train_best_ratio']:>6.2f}{r['train_cpu_ratio']:>6.2f} |"
              f" {m['epoch_s']:>8.2f}{b['epoch_s']:>7.2f}{r['epoch_ratio']:>7.3f} |"
              f" {m['first_epoch_s']:>8.2f}{b['first_epoch_s']:>7.2f} | {m['startup_s']:>7.2f}{b['startup_s']:>6.2f} |"
              f" {m['peak_mib']:>8.0f}{b['peak_mib']:>6.0f}")
    print("ratio = mnistmax time / bare time (1.00 = no overhead), steady-state epochs, medians over interleaved "
          "repeats;"
          " train = the optimisation steps (EMA included); best = ratio of the fastest epochs; cpu = ratio of the"
          " CPU seconds of this process;"
          " epoch = + validation, checkpoint, metrics and pictures; 1st ep = the first epoch; start = fit() to its"
          " first batch; peak = peak RSS of the process (CPU) or max_memory_allocated (CUDA)")


def print_sweep(results: list[dict]) -> None:
    print(f"{'model':<14}" + "".join(f" | {label}" for label in SWEEP))
    for r in results:
        print(f"{r['model']:<14}" + "".join(f" | {r['img_s'][label]:>{len(label)}.0f}" for label in SWEEP))
    print("mnistmax training img/s, steady-state epochs, medians over interleaved repeats")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated registry names")
    p.add_argument("--repeats", type=int, default=3, help="runs of each loop, interleaved (default 3)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run; the first is reported apart (default 2)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the model's config (64; simclr 256)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--train-size", type=int, default=4050, help="training digits per epoch (default 4050, the "
                   "embedded train split; larger sizes tile it unless --source has more)")
    p.add_argument("--source", default="embedded", help="data.source (embedded, torchvision, idx, auto)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--no-viz", action="store_true", help="viz.enabled=false for the mnistmax runs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config override, repeatable")
    p.add_argument("--sweep", action="store_true", help="instead: mnistmax img/s under each amp / channels_last /"
                   " thread setting (SWEEP)")
    p.add_argument("--batch-sizes", default=None, metavar="B,B,...", help="instead: mnistmax img/s at each batch size"
                   " (default settings otherwise)")
    p.add_argument("--json", type=Path, default=None, help="write every number (and the raw epochs) here")
    return p.parse_args(argv)


def machine(device: torch.device) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    info = {"cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__, "lightning": L.__version__}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU is visible")
    if args.epochs < 2:
        print("note: --epochs 1 has no steady-state epoch; the steady columns are empty (nan)")
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*sync_dist.*")
    info = machine(device)
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            if args.batch_sizes:
                sizes = [int(b) for b in args.batch_sizes.split(",")]
                results.append(sweep_batches(name, args, device, Path(tmp), sizes))
                print(f"  {name}: " + ", ".join(f"batch {k} {v:.0f} img/s" for k, v in results[-1]["img_s"].items()),
                      flush=True)
                continue
            if args.sweep:
                results.append(sweep_model(name, args, device, Path(tmp)))
                print(f"  {name}: " + ", ".join(f"{k} {v:.0f}" for k, v in results[-1]["img_s"].items()), flush=True)
                continue
            result = bench_model(name, args, device, Path(tmp))
            results.append(result)
            print(f"  {name}: mnistmax/bare {result['train_ratio']:.3f} (train), {result['epoch_ratio']:.3f} (epoch)"
                  + (" [tiled train split]" if result["tiled"] else ""), flush=True)
    print()
    if args.batch_sizes:
        print("mnistmax training img/s by batch size, steady-state epochs, medians over interleaved repeats")
    else:
        print_sweep(results) if args.sweep else print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
