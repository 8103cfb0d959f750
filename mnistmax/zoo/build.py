"""`mnistmax zoo build`: each entry trained from its recipe (seeded), evaluated, exported in
the safetensors format and written, with its card and numbers, into the zoo folder; and the
zoo table (docs/ZOO.md, `zoo list --markdown`), made from the entries' stored metrics."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path

from mnistmax.zoo import ENTRIES, FASHION, WEIGHT_LICENCE, Entry, ZooError, built, entry, headline, summary, zoo_dir

IGNORED = ("name", "logging")  # what may differ between a recipe and a run packaged from it


def machine_kind() -> str:
    """The CPU (or GPU) the entry was built on, in the terms the project uses."""
    import torch

    from mnistmax.hardware import cpu_has_fast_bf16

    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    kind = "AVX512-BF16" if cpu_has_fast_bf16() else "no native bf16 (AVX2)"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {kind}"


def recipe_config(name: str, output_dir: Path, progress: str = "plain"):
    """The entry's recipe as the zoo trains it: without its time budget (train.max_time_minutes), which
    guards a user's run but would make the weights depend on how busy the machine was."""
    from mnistmax.tasks import load_config

    return load_config(ENTRIES[name]["recipe"], [f"logging.output_dir={output_dir}", f"logging.progress={progress}",
                                                 "train.max_time_minutes=null"])


def comparable(raw: dict) -> dict:
    return {k: v for k, v in raw.items() if k not in IGNORED}


def check_same_recipe(name: str, run_dir: Path, cfg) -> None:
    """A run packaged with --run must be what the recipe trains: one line naming the first difference."""
    from mnistmax.files import read_meta, read_run_yaml
    from mnistmax.tasks import used_config

    want, have = comparable(used_config(cfg)), comparable(read_run_yaml(run_dir))
    meta = read_meta(run_dir)
    stop = meta.get("stop_reason") or {}
    if meta.get("status") not in ("completed", "stopped_early") or "max_time" in str(stop.get("by", "")):
        raise ZooError(f"{run_dir} was not trained to the end of its recipe ({meta.get('status')}"
                       + (f": {stop.get('message')}" if stop else "") + "); a time budget makes weights depend on "
                       "how busy the machine was: train it again without one (`mnistmax zoo build NAME` does)")
    have.get("train", {}).pop("max_time_minutes", None)  # a budget that cut nothing changed nothing
    want.get("train", {}).pop("max_time_minutes", None)
    for raw in (want, have):  # recorded from the data when training starts: not the recipe's to set
        for key in ("num_classes", "class_names"):
            raw.get("data", {}).pop(key, None)
    for section in sorted(set(want) | set(have)):
        a, b = want.get(section), have.get(section)
        if a != b:
            keys = sorted(set(a or {}) | set(b or {})) if isinstance(a, dict) and isinstance(b, dict) else [""]
            key = next((k for k in keys if (a or {}).get(k) != (b or {}).get(k)), "")
            raise ZooError(f"{run_dir} was not trained by the recipe of {name} ({ENTRIES[name]['recipe']}): "
                           f"{section}.{key} is {(b or {}).get(key) if key else b!r} there, "
                           f"{(a or {}).get(key) if key else a!r} in the recipe")


def build_entry(name: str, run: Path | None = None, into: Path | None = None, work: Path | None = None,
                echo=print) -> Entry:
    """Train (or take `run`, trained by the same recipe), evaluate, export and card entry `name` into `into`;
    the training run goes under `work`/<name> (default <output root>/zoo-build, mnistmax.files.output_root)."""
    from mnistmax.evaluation import evaluate
    from mnistmax.export import export_run
    from mnistmax.files import read_meta, write_atomic, write_json
    from mnistmax.runs import load_run
    from mnistmax.tasks import get_task
    from mnistmax.training import train

    if name not in ENTRIES:
        raise ZooError(f"unknown zoo entry {name!r}; entries: {', '.join(ENTRIES)}")
    from mnistmax.files import output_root

    into = Path(into or zoo_dir())
    cfg = recipe_config(name, (Path(work) if work is not None else output_root() / "zoo-build") / name)
    if run is None:
        echo(f"zoo {name}: training {ENTRIES[name]['recipe']} ...")
        start = time.perf_counter()
        run_dir = train(cfg, echo=echo).run_dir
        echo(f"zoo {name}: trained in {time.perf_counter() - start:.0f} s")
    else:
        run_dir = Path(run)
        check_same_recipe(name, run_dir, cfg)
    stem = get_task(cfg.task).eval_stem
    echo(f"zoo {name}: evaluating ...")  # always: the numbers come from this version's evaluation
    evaluate(run_dir, warn=echo)
    loaded = load_run(run_dir)
    tmp = Path(into) / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model_json = export_run(loaded, "safetensors", tmp, echo=echo)
    meta = json.loads(model_json.read_text())
    run_meta = read_meta(run_dir)
    meta["zoo"] = {"name": name, "recipe": ENTRIES[name]["recipe"], "dataset": ENTRIES[name]["dataset"],
                   "licence": ENTRIES[name]["licence"], "weights_licence": WEIGHT_LICENCE,
                   "parameters": run_meta.get("parameters"), "eval_stem": stem,
                   "built": {"machine": machine_kind(), "precision": run_meta.get("precision"),
                             "device": run_meta.get("device"), "train_seconds": run_meta.get("train_seconds"),
                             "epochs": run_meta.get("epochs_completed"), "date": run_meta.get("ended"),
                             "versions": run_meta.get("versions")}}
    meta["run"] = meta["checkpoint"] = None  # the build machine's paths mean nothing where the package is installed
    if meta["config"].get("data", {}).get("class_names") is None:  # a run from before names were recorded
        from mnistmax.data.datamodule import load_bundle

        names = load_bundle(loaded.cfg).classes
        if names:
            meta["config"]["data"]["class_names"] = names
    write_json(model_json, meta)
    write_atomic(tmp / "eval.json", (run_dir / "eval" / f"{stem}.json").read_bytes())
    final = Path(into) / name
    e = Entry(name, tmp, meta)
    write_atomic(tmp / "README.md", card(e, get_task(cfg.task)))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    echo(f"zoo {name}: {final} ({Entry(name, final, meta).size_bytes() / 1e6:.2f} MB)")
    return Entry(name, final, meta)


def score_text(value: float, metric: str) -> str:
    if "accuracy" in metric:
        return f"{100 * value:.2f}%"
    return f"{value:.5f}" if abs(value) < 1 else f"{value:.2f}"


def headline_text(e: Entry) -> str:
    """The entry's own headline number with its 95 % interval, from model.json: one fact, read here for
    every table."""
    head = headline(e)
    network = e.meta.get("network", "?")
    scores = head.get("scores", {})
    own = [k for k in scores if k == network] or list(scores)[:1]
    spans = head.get("intervals") or {}
    metric = head.get("metric", "-")
    parts = []
    for k in own:
        text = score_text(scores[k], metric)
        if k in spans:
            low, high = spans[k]
            text += f" [{score_text(low, metric)}, {score_text(high, metric)}]"
        parts.append(text)
    return f"{metric}: {', '.join(parts)}"


def markdown(table: dict) -> list[str]:
    cols = [str(c).replace("\n", " ") for c in table["columns"]]
    return [f"**{table['title']}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]), ""]


def card(e: Entry, task_class) -> str:
    zoo, meta = e.meta["zoo"], e.meta
    b = zoo["built"]
    fashion = zoo["dataset"] == FASHION["dataset"]
    lines = [f"# zoo:{e.name}", "", ENTRIES[e.name]["about"] + ".", "",
             f"- task `{meta['task']}`, network `{meta['network']}` {json.dumps(meta.get('arguments', {}))}, "
             f"{zoo['parameters']:,} parameters; can: {', '.join(meta.get('capabilities', []))}",
             f"- data: {zoo['dataset']}",
             f"- recipe: `configs/{zoo['recipe']}.yaml`; rebuild with `mnistmax zoo build {e.name}` (seeded: the same "
             "machine kind gives the same weights)",
             f"- built: {b['epochs']} epochs, {b['train_seconds']} s of training on {b['machine']} "
             f"({b['precision']}), {b['date']}",
             f"- versions: {', '.join(f'{k} {v}' for k, v in (b.get('versions') or {}).items())}",
             f"- headline: {headline_text(e)} (95 % bootstrap interval over the test images)", ""]
    if fashion:
        lines += ["Fewer epochs than the MNIST recipe, on 13 times the training images: see the recipe's header.", ""]
    lines += ["## Numbers on the test split", "", f"From `mnistmax eval` of the run it was built from ({len(e.rows())} "
              "rows in eval.json):", ""]
    for table in task_class.eval_tables(e.rows()):
        lines += markdown(table)
    lines += ["## Licence", "", f"{zoo['licence']}. {WEIGHT_LICENCE}", "",
              "## Use it", "", "```python", "import mnistmax", f'model = mnistmax.load("zoo:{e.name}")',
              "print(model)", "```", "", "```bash", f"mnistmax eval zoo:{e.name}       # its numbers again, "
              "written under outputs/zoo/", "```", ""]
    return "\n".join(lines)


def zoo_table(root: Path | None = None) -> str:
    """The markdown table of every built entry (README, docs/ZOO.md, `zoo list --markdown`)."""
    lines = ["| entry | task | network | parameters | dataset | headline (test split) | built on | train time | size |",
             "|---|---|---|---|---|---|---|---|---|"]
    total = 0
    for name in built(root):
        e = entry(name, root)
        s, b = summary(e), e.meta["zoo"]["built"]
        total += s["size_bytes"]
        dataset = "Fashion-MNIST" if s["dataset"] == FASHION["dataset"] else "MNIST (embedded)"
        lines.append(f"| `zoo:{name}` | {s['task']} | {s['network']} | {s['parameters']:,} | {dataset} | "
                     f"{headline_text(e)} | {b['machine']}, {b['precision']} | {b['train_seconds']:.0f} s | "
                     f"{s['size_bytes'] / 1e6:.2f} MB |")
    return "\n".join(lines) + f"\n\n{len(built(root))} entries, {total / 1e6:.1f} MB in all.\n"


TABLE_START, TABLE_END = "<!-- zoo table: made by `mnistmax zoo build`; do not edit -->", "<!-- end of zoo table -->"


def write_table(doc: Path, root: Path | None = None) -> bool:
    """Replace the table between the markers in `doc` (README.md, docs/ZOO.md); False when `doc` has none."""
    from mnistmax.files import write_atomic

    if not doc.is_file():
        return False
    text = doc.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        return False
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    write_atomic(doc, f"{head}{TABLE_START}\n{zoo_table(root)}{TABLE_END}{tail}")
    return True


def check_recipes() -> None:
    """Every entry's recipe exists and validates (a test runs this)."""
    for name in ENTRIES:
        recipe_config(name, Path("outputs"))


# A reproduced number must lie within 0.2 % of the recorded one (the same weights, any CPU); a fraction of the
# row's n_test items (an accuracy, a probe's score) may also differ by one item: a 1-shot linear probe fitted on
# another CPU (AMD EPYC against the Intel Xeon that built the zoo) put one of 500 test digits in another class.
TOLERANCE = 0.002
KEYS = ("method", "noise", "sigma", "kind", "n_train")  # what names a row (not a score)


def allowed_difference(recorded: float, n_test: int | None) -> float:
    """How far a re-evaluated number may lie from the recorded one (TOLERANCE; one item of n_test for a
    fraction in [0, 1])."""
    allowed = TOLERANCE * max(abs(recorded), 1e-9) + 1e-9
    if isinstance(n_test, int) and n_test > 0 and 0.0 <= recorded <= 1.0:
        allowed = max(allowed, 1.0 / n_test + 1e-6)
    return allowed


def check_entry(name: str, output_dir: Path | None = None, quick: bool = True) -> list[dict]:
    """Evaluate entry `name` again on its dataset's test split (under output_dir/zoo/) and compare every
    number of the model's own rows (not the baselines') with the recorded eval.json:
    [{"row", "key", "recorded", "measured", "ok"}].
    `quick`: a denoiser is scored on its first noise kind, without baselines (the rows it keeps are
    compared as they are)."""
    from mnistmax.evaluation import evaluate

    e = entry(name)
    overrides = []
    if quick and e.meta["task"] == "denoise":
        kinds = (e.meta["config"].get("noise") or {}).get("eval_kinds") or ["gaussian"]
        overrides = [f"noise.eval_kinds=[{kinds[0]}]", "eval.baselines=false"]
    rows = evaluate(f"zoo:{name}", overrides, output_dir=output_dir, tag="zoo-check", warn=lambda m: None).rows
    recorded = {tuple(r.get(k) for k in KEYS): r for r in e.rows()}
    network = e.meta.get("network", "?")
    out = []
    for row in rows:
        ident = tuple(row.get(k) for k in KEYS)
        own = row.get("method") == network or str(row.get("method", "")).startswith(network + " ")
        if ident not in recorded or not own:  # the model's rows; a baseline (raw pixels' probe) is not the entry
            continue
        for key, value in row.items():
            want = recorded[ident].get(key)
            if key in KEYS or not isinstance(value, (int, float)) or not isinstance(want, (int, float)):
                continue
            ok = abs(value - want) <= allowed_difference(want, row.get("n_test"))
            out.append({"row": " ".join(str(v) for v in ident if v is not None), "key": key, "recorded": want,
                        "measured": value, "ok": ok})
    if not out:
        raise ZooError(f"zoo entry {name!r}: none of its re-evaluated rows matches a recorded one")
    return out
