"""Operating points of a bitmap denoiser: its scores at every output threshold, and the threshold
a rule picks.

A bitmap model's output is a number in [0, 1] per pixel, ink where it is above a threshold
(`eval.threshold`). A higher threshold keeps less: precision and ablation efficiency rise,
recall falls. `eval.operating_point` states where to stand, e.g. {maximize: ablation_efficiency,
subject_to: {recall: 0.986}}, and the threshold is chosen on the validation split, never on test.

Counts at every threshold come from one pass (sorted outputs and `searchsorted`), so a sweep
over 99 thresholds costs about as much as scoring one. Besides the counts of
`mnistmax.eval.metrics.COUNT_KEYS`, additive noise gives `hidden` (clean ink under added ink:
nothing in the input shows it), `visible` (the rest of the clean ink) and `visible_kept`, hence
`recall_visible` (recall over the ink the input shows) and `hidden_ink` (the share that it hides).
"""

from __future__ import annotations

import math

import torch

from mnistmax.eval.metrics import COUNT_KEYS, _ratio, binary_scores

THRESHOLDS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 100))  # what a rule chooses from
VISIBLE_KEYS = ("hidden", "visible", "visible_kept")
SWEEP_KEYS = (*COUNT_KEYS, *VISIBLE_KEYS)
# the operating point reported for the reference ablation design that the ablation recipe reproduces
REFERENCE_POINT = {"precision": 0.956, "recall": 0.986, "specificity": 0.993, "ablation_efficiency": 0.80}


def _above(values: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """How many of `values` are above each threshold. (T,) int64"""
    ordered = values.flatten().float().sort().values
    return len(ordered) - torch.searchsorted(ordered, thresholds, right=True)


def sweep_counts(output: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor, added: torch.Tensor | None,
                 thresholds: torch.Tensor, data_threshold: float = 0.5) -> torch.Tensor:
    """Counts (T, len(SWEEP_KEYS)) of one batch with the output thresholded at each of `thresholds`
    (the inputs at `data_threshold`; they are 0/1 already). `added`: the ink the noise added
    (additive kinds), else None and the visible counts are 0."""
    output, thresholds = output.float().cpu(), thresholds.float().cpu()
    sig, noisy_on = clean.cpu() > data_threshold, noisy.cpu() > data_threshold
    noise = noisy_on & ~sig
    tp, fp = _above(output[sig], thresholds), _above(output[~sig], thresholds)
    kept_noise = _above(output[noise], thresholds)
    n_sig, n_off, n_noise = int(sig.sum()), int((~sig).sum()), int(noise.sum())
    if added is not None:
        hidden_mask = sig & (added.cpu() > data_threshold)
        visible_kept = _above(output[sig & ~hidden_mask], thresholds)
        hidden = int(hidden_mask.sum())
    else:
        visible_kept, hidden = torch.zeros_like(tp), 0
    full = lambda n: torch.full_like(tp, n)  # noqa: E731
    columns = {"tp": tp, "fp": fp, "fn": n_sig - tp, "tn": n_off - fp, "noise": full(n_noise),
               "noise_removed": n_noise - kept_noise, "signal": full(n_sig), "signal_kept": tp,
               "hidden": full(hidden), "visible": full(n_sig - hidden if added is not None else 0),
               "visible_kept": visible_kept}
    return torch.stack([columns[k] for k in SWEEP_KEYS], dim=1).long()


def point_scores(counts: dict, n_images: int, beta: float = 1.0) -> dict[str, float]:
    """binary_scores, and recall_visible, hidden_ink (NaN without the added-ink mask) and f_beta."""
    scores = binary_scores(counts, n_images)
    masked = counts.get("visible", 0) + counts.get("hidden", 0) > 0
    scores["recall_visible"] = _ratio(counts["visible_kept"], counts["visible"]) if masked else math.nan
    scores["hidden_ink"] = _ratio(counts["hidden"], counts["signal"]) if masked else math.nan
    p, r, b2 = scores["precision"], scores["recall"], beta * beta
    scores["f_beta"] = _ratio((1 + b2) * p * r, b2 * p + r) if not (math.isnan(p) or math.isnan(r)) else math.nan
    return scores


def sweep_scores(counts: torch.Tensor, thresholds, n_images: int, beta: float = 1.0) -> list[dict]:
    """One row per threshold: {threshold, scores...} from sweep_counts summed over batches."""
    return [{"threshold": float(t)} | point_scores(dict(zip(SWEEP_KEYS, row.tolist())), n_images, beta)
            for t, row in zip(thresholds, counts)]


def choose_threshold(levels: list[list[dict]], maximize: str, subject_to: dict[str, float],
                     prefer: float = 0.5) -> dict:
    """The threshold a rule picks from per-level sweeps (`levels`: one sweep_scores list per noise
    level, the same thresholds in each): among thresholds where every minimum in `subject_to` holds
    at every level, the highest mean `maximize` over the levels (ties: the threshold nearest
    `prefer`). When none meets them all, the one that misses its worst minimum by least (`met`
    False). A score that is undefined at every threshold of a level (efficiency with no noise)
    does not bind there; one undefined at some thresholds (precision with no ink kept) fails.

    Returns {threshold, met, objective (mean maximize), shortfall (worst score - minimum, >= 0 when met)}."""
    if not levels or not levels[0]:
        raise ValueError("choose_threshold needs at least one level and one threshold")
    structural = [{k for k in (maximize, *subject_to) if all(math.isnan(row[k]) for row in sweep)} for sweep in levels]
    best = None
    for i in range(len(levels[0])):
        rows = [sweep[i] for sweep in levels]
        margins = [(-math.inf if math.isnan(row[k]) else row[k] - v)
                   for row, skip in zip(rows, structural) for k, v in subject_to.items() if k not in skip]
        shortfall = min(margins, default=math.inf)
        values = [row[maximize] for row, skip in zip(rows, structural) if maximize not in skip]
        objective = -math.inf if not values or any(math.isnan(v) for v in values) else sum(values) / len(values)
        t = rows[0]["threshold"]
        met = shortfall >= 0
        key = (met, objective if met else shortfall, -abs(t - prefer))
        if best is None or key > best[0]:
            best = (key, {"threshold": t, "met": met, "objective": objective, "shortfall": shortfall})
    return best[1]


def describe_rule(maximize: str, subject_to: dict[str, float]) -> str:
    """'max ablation_efficiency s.t. recall >= 0.986'."""
    bounds = ", ".join(f"{k} >= {v:g}" for k, v in subject_to.items())
    return f"max {maximize}" + (f" s.t. {bounds}" if bounds else "")


# ---------------------------------------------------------------- a model's sweeps and points

VALIDATION_SEED_OFFSET = 1  # validation noise is drawn from eval.seed + 1: other draws than test's


def model_sweeps(cfg, reconstruct, images: torch.Tensor, kind: str, levels: list[float], seed: int,
                 device="cpu", thresholds=THRESHOLDS) -> dict[float, torch.Tensor]:
    """{level: sweep_counts summed over `images`} of `reconstruct` under `kind` noise, the noise drawn
    as eval draws it (mnistmax.eval.denoise.noisy_batches) from `seed`."""
    from mnistmax.eval.draws import CPU_FORWARD_CHUNK, in_chunks, noisy_batches

    fn = in_chunks(reconstruct, CPU_FORWARD_CHUNK if torch.device(device).type == "cpu" else None)
    t = torch.tensor(thresholds)
    out = {}
    for level in levels:
        total = torch.zeros(len(t), len(SWEEP_KEYS), dtype=torch.long)
        for noisy, clean, added in noisy_batches(images, kind, level, cfg, device, seed=seed):
            with torch.no_grad():
                total += sweep_counts(fn(noisy).float().clamp(0, 1), noisy, clean, added, t, cfg.data.threshold)
        out[level] = total
    return out


def point_setting(cfg, rule) -> tuple[str, list[float]]:
    """(noise kind, levels) a rule is chosen under: its own, else noise.kind and the eval levels."""
    return rule.noise or cfg.noise.kind, list(rule.levels or cfg.noise.levels_to_evaluate())


def select_points(cfg, reconstruct, val_images: torch.Tensor, device="cpu",
                  sweeps: dict[str, dict[float, torch.Tensor]] | None = None) -> list[dict]:
    """Each of eval.operating_point's rules applied on the validation split:
    [{point, rule, noise, levels, threshold, met, objective, shortfall}], the used one first.
    `sweeps` ({kind: {level: model_sweeps counts}}) is filled with the validation sweeps it made."""
    sweeps = {} if sweeps is None else sweeps
    seed = cfg.eval.seed + VALIDATION_SEED_OFFSET
    points = []
    for name, rule in (cfg.eval.operating_point or {}).items():
        kind, levels = point_setting(cfg, rule)
        have = sweeps.setdefault(kind, {})
        missing = [lv for lv in levels if lv not in have]
        if missing:
            have |= model_sweeps(cfg, reconstruct, val_images, kind, missing, seed, device)
        per_level = [sweep_scores(have[lv], THRESHOLDS, len(val_images), rule.beta) for lv in levels]
        choice = choose_threshold(per_level, rule.maximize, rule.subject_to, prefer=cfg.eval.threshold)
        points.append({"point": name, "rule": describe_rule(rule.maximize, rule.subject_to), "noise": kind,
                       "levels": levels} | choice)
    return points


def describe_point(p: dict) -> str:
    """One line: where a point stands and whether its rule was met on validation."""
    levels = ", ".join(f"{lv:g}" for lv in p["levels"])
    if p["met"] is None:
        return (f"operating point {p['point']} ({p['rule']}): NOT chosen, the training run has no validation split; "
                f"eval.threshold {p['threshold']:.2f} is used and the rule is not measured")
    line = (f"operating point {p['point']} ({p['rule']}; chosen on the training run's validation split, "
            f"{p['validation_images']:,} digits, {p['noise']} {levels}): threshold {p['threshold']:.2f}")
    if not p["met"]:
        line += ("; NOT met on validation: no threshold does, this one misses a minimum by "
                 f"{-p['shortfall']:.4f} at worst")
    return line


# ---------------------------------------------------------------- a run's points, stored with it

POINTS_FILE = "operating_points.json"  # <run>/operating_points.json: the points of each checkpoint and rule set


def selection_config(run):
    """The config a run's points are chosen under: the one it was trained with (its data, noise
    and eval seed), with the evaluation's eval.operating_point and eval.threshold (a rule may be
    asked for at eval time; the data and noise being evaluated never move a threshold)."""
    trained = run.trained_cfg
    chosen = trained.eval.model_copy(update={"operating_point": run.cfg.eval.operating_point,
                                             "threshold": run.cfg.eval.threshold})
    return trained.model_copy(update={"eval": chosen})


def _points_key(run, cfg) -> str:
    import hashlib
    import json

    digest = hashlib.sha256(run.checkpoint_path.read_bytes()).hexdigest()[:16] if run.checkpoint_path else None
    rules = {name: rule.model_dump() for name, rule in (cfg.eval.operating_point or {}).items()}
    what = [digest, rules, cfg.eval.threshold, cfg.eval.seed, cfg.noise.model_dump(), cfg.data.model_dump(), cfg.seed]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_points(run, sweeps: dict | None = None) -> list[dict]:
    """eval.operating_point's points for a loaded run's weights, chosen on the validation split of
    the data the run was trained on (never on the data it is evaluated on). Stored in the run's
    operating_points.json, keyed by the checkpoint's content and the rules, so that eval, the API,
    export and viz use one threshold and compute it once. A run without a validation split gets
    eval.threshold with `met` None: its rules are not measured."""
    import json

    from mnistmax.files import write_json

    cfg = selection_config(run)
    key = _points_key(run, cfg)
    path = run.run_dir / POINTS_FILE
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    entry = stored.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("points"), list) and entry["points"]:
        return entry["points"]
    images = run.validation_images
    if len(images):
        device = next(run.task.parameters()).device
        points = select_points(cfg, run.task.reconstruct, images, device, sweeps)
    else:
        points = [{"point": name, "rule": describe_rule(rule.maximize, rule.subject_to),
                   **dict(zip(("noise", "levels"), point_setting(cfg, rule))), "threshold": cfg.eval.threshold,
                   "met": None, "objective": None, "shortfall": None}
                  for name, rule in (cfg.eval.operating_point or {}).items()]
    for p in points:
        p["validation_images"] = len(images)
    stored[key] = {"checkpoint": run.checkpoint, "points": points}
    try:
        write_json(path, stored)
    except OSError:  # a read-only run (an installed one): chosen again next time
        pass
    return points


def fixed_threshold(cfg, task) -> float | None:
    """eval.threshold for a bitmap denoiser, None for any other model (its output is not cut)."""
    return cfg.eval.threshold if cfg.data.binarize and "denoise" in task.capabilities else None


def operating_threshold(run) -> float | None:
    """The threshold a loaded run's bitmap output is cut at outside eval (None for any other
    model): the first eval.operating_point's, as chosen for these weights (run_points), else
    eval.threshold."""
    threshold = fixed_threshold(run.cfg, run.task)
    if threshold is not None and run.cfg.eval.operating_point:
        return run_points(run)[0]["threshold"]
    return threshold
