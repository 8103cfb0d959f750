"""Transfer learning: does a pretrained encoder help a classifier?

The encoder comes from any run whose task has one (`transfer_source`): a conv_ae or VAE run
(its conv encoder in `cnn_classifier`), or a contrastive run, SimCLR, SupCon or triplet (its
registered encoder in `encoder_classifier`). Every classifier trains through the project's
trainer into <encoder run>/transfer/<mode>-<labels>-<time>/.

For each number of labels per class and each mode, train the classifier on the encoder
run's training split and score it on its test split:
  scratch   random encoder, everything trained
  frozen    pretrained encoder, only the head trained
  finetune  pretrained encoder, everything trained
"""

from __future__ import annotations

from pathlib import Path

from mnistmax.analysis.modes import TRANSFER_MODES
from mnistmax.config import RunConfig
from mnistmax.errors import MnistmaxError
from mnistmax.files import create_unique_dir, write_atomic, write_json
from mnistmax.runs import load_run
from mnistmax.training import train
from mnistmax.training.classifier import classifier_config, train_classifier

MODES = TRANSFER_MODES  # the names live in analysis.modes (light: the CLI lists them)
MIN_STEPS = 400  # small label sets still get enough optimiser steps (the classifier recipe's own minimum)
# A randomly initialised encoder needs longer: simple_cnn from scratch on all 4,050 embedded digits
# plateaus on validation after about 1,000 steps (95.6% val, 97.0% test at 1,200 steps; 77.6% test
# at 400), so the scratch baseline gets 1,200 and never stands for a cut-short training.
SCRATCH_MIN_STEPS = 1200


def encoder_state(run_dir: Path) -> tuple[dict, dict, RunConfig]:
    """(the classifier's model section, the encoder's weights, the run's config) of an encoder run."""
    run = load_run(run_dir)
    model, state = run.task.transfer_source()
    return model, state, run.cfg


def run_transfer(encoder_run: Path, modes: list[str], labels_per_class: list[int | None], overrides: list[str],
                 echo=print, device="cpu") -> list[dict]:
    """Train and score a classifier per label budget and mode; each is scored on `device` (cpu,
    cuda, cuda:N, mps or auto) and trains where train.accelerator says (an override)."""
    from mnistmax.hardware import resolve_device

    device = resolve_device(device)
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise MnistmaxError(f"unknown transfer mode {bad[0]!r}; valid: {', '.join(MODES)}, all")
    model, encoder, base = encoder_state(encoder_run)
    rows = []
    for n in labels_per_class:
        for mode in modes:
            cfg = classifier_config(base, model, None if n is None else n * 10, overrides=overrides,
                                    min_steps=SCRATCH_MIN_STEPS if mode == "scratch" else MIN_STEPS)
            run_dir = create_unique_dir(Path(encoder_run) / "transfer", f"{mode}-{n or 'all'}")
            run_dir.rmdir()  # train() makes it anew: it never trains into an existing directory
            row = train_classifier(cfg, mode, encoder, run_dir, train, device)
            echo(f"{mode:>8}, {row['labels_per_class']} labels/class: test accuracy {100 * row['test_acc']:.2f}% "
                 f"({row['train_seconds']} s, {row['trainable_params']:,} trainable parameters)")
            rows.append(row)
    out = encoder_run / "eval"
    write_json(out / "transfer.json", rows)
    write_atomic(out / "transfer.md", transfer_markdown(rows))
    return rows


def transfer_markdown(rows: list[dict]) -> str:
    lines = ["| labels/class | mode | test accuracy | train time (s) | trainable params |", "|---|---|---|---|---|"]
    lines += [f"| {r['labels_per_class']} | {r['mode']} | {100 * r['test_acc']:.2f}% | {r['train_seconds']} | "
              f"{r['trainable_params']:,} |" for r in rows]
    return "\n".join(lines) + "\n"


def parse_labels(text: str) -> list[int | None]:
    """'10,100,all' -> [10, 100, None]."""
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            out.append(None)
        elif part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            raise MnistmaxError(f"--labels-per-class: {part!r} is not a positive number or 'all' (e.g. 10,100,all)")
    return out
