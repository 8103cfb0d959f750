"""Optuna's standard plots of a study as PNGs, drawn with matplotlib (no plotly, no network):
optimization history, parameter importances, parallel coordinate. A plot that cannot be
drawn (too few completed trials, nothing that varies) is skipped with one line."""

from __future__ import annotations

import warnings
from pathlib import Path

from mnistmax.files import write_with


def _complete(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def _varying(trials: list) -> list[str]:
    names = sorted({k for t in trials for k in t.params})
    return [k for k in names if len({repr(t.params.get(k)) for t in trials}) > 1]


def plot_problem(name: str, study) -> str | None:
    """Why `name` cannot be drawn for this study, or None."""
    trials = _complete(study)
    if not trials:
        return "no completed trial"
    if name == "param_importances":
        if len(trials) < 2:
            return "importances need 2 completed trials"
        if not _varying(trials):
            return "no parameter varies across the completed trials"
    if name == "parallel_coordinate" and not any(t.params for t in trials):
        return "the trials have no parameters"
    return None


def _draw(name: str, study):
    from optuna.visualization import matplotlib as ov

    if name == "optimization_history":
        return ov.plot_optimization_history(study, target_name="mean val/loss over folds")
    if name == "param_importances":
        return ov.plot_param_importances(study, params=_varying(_complete(study)), target_name="mean val/loss")
    return ov.plot_parallel_coordinate(study, target_name="mean val/loss")


def write_plots(study, out: str | Path, echo=print) -> list[Path]:
    """Each plot as out/<name>.png; returns the files written."""
    import matplotlib.pyplot as plt  # Optuna draws with pyplot; each figure is closed here, no backend is switched

    from mnistmax.experiments.storage import quiet_optuna_warnings

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("optimization_history", "param_importances", "parallel_coordinate"):
        reason = plot_problem(name, study)
        if reason is None:
            try:
                with quiet_optuna_warnings(), warnings.catch_warnings(), plt.rc_context():  # Optuna's style: undone
                    warnings.simplefilter("ignore", UserWarning)  # e.g. one trial: identical axis limits
                    ax = _draw(name, study)
                    figure = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
                    write_with(out / f"{name}.png", lambda buf: figure.savefig(buf, format="png", dpi=100,
                                                                               bbox_inches="tight"))
                    plt.close(figure)
                written.append(out / f"{name}.png")
                continue
            except Exception as exc:  # a plot is a bonus: never fail the search for one
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        echo(f"skipped {name}.png: {reason}")
    return written
