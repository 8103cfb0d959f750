"""The pretrained zoo: one model per shipped recipe, stored as package data in the export
format (`mnistmax/zoo/<name>/`: model.json, model.safetensors, eval.json, README.md), listed by
`mnistmax zoo list` and usable wherever a run is (`zoo:<name>`).

A `zoo:<name>` run is made once under `<output_dir>/zoo/<name>-<entry sha>/` from the entry
(config.yaml, a checkpoint rebuilt from the safetensors weights, meta.json, the entry's eval
rows), so eval, viz, compare, transfer, export and the API see an ordinary run directory and
never write into the installed package. `mnistmax zoo build` (mnistmax.zoo.build) trains,
evaluates and packages the entries from their recipes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from mnistmax.errors import MnistmaxError

ZOO_DIR = Path(__file__).resolve().parent  # the package's own zoo; $MNISTMAX_ZOO names another folder
PREFIX = "zoo:"

MNIST = {"dataset": "mnist (the 5,000 embedded digits: 4,050 train, 450 validation, 500 test)",
         "licence": "MNIST (Yann LeCun and Corinna Cortes) is CC BY-SA 3.0"}
FASHION = {"dataset": "fashion_mnist (60,000 train: 54,000 + 6,000 validation; the official 10,000 test)",
           "licence": "Fashion-MNIST (Zalando Research) is MIT"}

# name -> the recipe (under configs/) that builds it, and the data it learns: the one list of entries
ENTRIES: dict[str, dict] = {
    "mnist-unet": {"recipe": "mnist", "about": "the default denoiser (U-Net, Gaussian noise 0-1)", **MNIST},
    "conv_dae": {"recipe": "models/conv_dae", "about": "convolutional denoising autoencoder", **MNIST},
    "unet_dae": {"recipe": "models/unet_dae", "about": "U-Net denoiser recipe", **MNIST},
    "resnet_dae": {"recipe": "models/resnet_dae", "about": "residual denoiser", **MNIST},
    "attention_dae": {"recipe": "models/attention_dae", "about": "U-Net with attention", **MNIST},
    "ablation_unet": {"recipe": "models/ablation_unet", "about": "ablation-gated bitmap denoiser (output <= input)",
                      **MNIST},
    "vae_dae": {"recipe": "models/vae_dae", "about": "VAE trained as a denoiser", **MNIST},
    "conv_ae": {"recipe": "models/conv_ae", "about": "12-dim convolutional autoencoder", **MNIST},
    "vae": {"recipe": "models/vae", "about": "convolutional VAE (16-dim latent)", **MNIST},
    "simclr": {"recipe": "models/simclr", "about": "SimCLR encoder (NT-Xent)", **MNIST},
    "supcon": {"recipe": "models/supcon", "about": "supervised contrastive encoder", **MNIST},
    "triplet": {"recipe": "models/triplet", "about": "triplet-loss encoder", **MNIST},
    "classifier": {"recipe": "models/classifier", "about": "CNN digit classifier", **MNIST},
    "fashion-unet": {"recipe": "zoo/fashion_unet", "about": "the default denoiser's recipe on Fashion-MNIST",
                     **FASHION},
    "fashion-classifier": {"recipe": "zoo/fashion_classifier", "about": "CNN classifier on Fashion-MNIST",
                           **FASHION},
    "fashion-simclr": {"recipe": "zoo/fashion_simclr", "about": "SimCLR encoder on Fashion-MNIST", **FASHION},
}
WEIGHT_LICENCE = ("The weights are a work derived from the training data: share them (and models fine-tuned "
                  "from them) under the data's terms; the code is under the project's licence.")


class ZooError(MnistmaxError):
    """An unknown or damaged zoo entry (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Entry:
    name: str
    folder: Path
    meta: dict  # model.json

    @property
    def weights(self) -> Path:
        return self.folder / "model.safetensors"

    def rows(self) -> list[dict]:
        """The entry's eval rows (eval.json of the run it was built from)."""
        return read_json(self.folder / "eval.json", self.name)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def sha(self) -> str:
        """The entry's identity: its weights and its model.json (config, threshold, class names)."""
        digest = hashlib.sha256(self.weights.read_bytes())
        digest.update((self.folder / "model.json").read_bytes())
        return digest.hexdigest()


def read_json(path: Path, name: str):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ZooError(f"zoo entry {name!r} is damaged: {path.name} is missing (rebuild it with "
                       f"`mnistmax zoo build {name}`)") from None
    except (OSError, ValueError) as exc:
        raise ZooError(f"zoo entry {name!r} is damaged: {path.name} is unreadable ({exc})") from None


def zoo_dir() -> Path:
    """The zoo folder in use: $MNISTMAX_ZOO when set (a zoo of your own), else the package's."""
    return Path(os.environ.get("MNISTMAX_ZOO") or ZOO_DIR)


def built(root: Path | None = None) -> list[str]:
    """The names of the entries present (built) in the zoo folder, in ENTRIES' order."""
    root = root or zoo_dir()
    return [n for n in ENTRIES if (root / n / "model.json").is_file()]


def entry(name: str, root: Path | None = None) -> Entry:
    """The entry `name` (without the zoo: prefix); one line listing the valid names when unknown."""
    root = root or zoo_dir()
    name = name.removeprefix(PREFIX)
    if name not in ENTRIES:
        raise ZooError(f"unknown zoo entry {name!r}; the zoo has: {', '.join(built(root)) or 'nothing built'}")
    folder = root / name
    if not (folder / "model.json").is_file():
        raise ZooError(f"zoo entry {name!r} is not built here ({folder}); build it with `mnistmax zoo build {name}`")
    meta = read_json(folder / "model.json", name)
    if not (folder / "model.safetensors").is_file():
        raise ZooError(f"zoo entry {name!r} is damaged: model.safetensors is missing (rebuild it with "
                       f"`mnistmax zoo build {name}`)")
    return Entry(name, folder, meta)


def is_zoo(source) -> bool:
    return isinstance(source, str) and source.startswith(PREFIX)


def headline(e: Entry) -> dict:
    """{"metric", "scores"} of the entry: its own row(s) of model.json's headline."""
    return ((e.meta.get("metrics") or {}).get("headline")) or {"metric": "-", "scores": {}}


def summary(e: Entry) -> dict:
    """What `zoo list --json` gives for one entry."""
    zoo = e.meta.get("zoo", {})
    head = headline(e)
    return {"name": e.name, "task": e.meta.get("task"), "network": e.meta.get("network"),
            "parameters": zoo.get("parameters"), "dataset": ENTRIES[e.name]["dataset"],
            "about": ENTRIES[e.name]["about"], "metrics": head, "size_bytes": e.size_bytes(),
            "recipe": ENTRIES[e.name]["recipe"], "built": zoo.get("built")}


def materialize(name: str, output_dir: str | Path | None = None) -> Path:
    """The run directory of entry `name` under <output_dir>/zoo/ (default: the output root,
    mnistmax.files.output_root: $MNISTMAX_OUTPUT_DIR, else outputs), made on first use: config.yaml,
    checkpoints/best.ckpt (the task with the entry's weights, plain tensors), meta.json and eval/
    (the entry's rows). Made again, in a new folder, when the entry's weights change."""
    import torch

    from mnistmax.config import config_to_dict
    from mnistmax.exported import load_export
    from mnistmax.files import now_iso, output_root, write_atomic, write_json
    from mnistmax.tasks import dump_yaml

    output_dir = output_root(output_dir)
    e = entry(name)
    sha = e.sha()
    run_dir = Path(output_dir) / "zoo" / f"{e.name}-{sha[:10]}"  # a changed entry gets a new folder
    if (run_dir / "config.yaml").is_file() and (run_dir / "checkpoints" / "best.ckpt").is_file():
        return run_dir
    try:
        task, cfg, _ = load_export(e.folder)
    except MnistmaxError as exc:
        raise ZooError(f"zoo entry {e.name!r} is damaged: {exc}") from None
    cfg.logging.output_dir = str(output_dir)
    tmp = run_dir.with_name(f".{run_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "checkpoints").mkdir(parents=True)
    buf = io.BytesIO()
    torch.save({"state_dict": task.state_dict(), "hyper_parameters": {"config": config_to_dict(cfg)}}, buf)
    write_atomic(tmp / "checkpoints" / "best.ckpt", buf.getvalue())
    write_atomic(tmp / "config.yaml", dump_yaml(cfg))
    zoo = e.meta.get("zoo", {})
    write_json(tmp / "meta.json", {"status": "completed", "name": run_dir.name, "task": cfg.task,
                                   "model": cfg.model.name, "parameters": zoo.get("parameters"), "seed": cfg.seed,
                                   "started": now_iso(), "epochs_completed": zoo.get("built", {}).get("epochs"),
                                   "train_seconds": zoo.get("built", {}).get("train_seconds"),
                                   "precision": zoo.get("built", {}).get("precision"),
                                   "zoo": {"entry": e.name, "entry_sha256": sha,
                                                                 "folder": str(e.folder), **zoo}})
    (tmp / "eval").mkdir()
    write_json(tmp / "eval" / f"{zoo.get('eval_stem', 'eval')}.json", e.rows())
    tmp.rename(run_dir)
    return run_dir
