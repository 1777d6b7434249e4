"""The plots a sweep user expects: parallel coordinates (one line per config: its varying
params to its metric's seed mean) and parameter importance (Optuna's fANOVA over the sweep's
finished runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import schema

from . import columns as cols

SKIP = {"seed", "fwd", "progress", "root", "model_dir", "weights"}  # fwd is what schema.DESCRIBE spells out


class PlotRefused(ValueError):
    """Too little variation to draw: one line saying what is missing."""


def params_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: the params that vary across the runs (numbers as numbers, the rest as
    text), from the described spec and the run's config."""
    cfgs = [json.loads(c) if isinstance(c, str) and c else {} for c in runs[schema.CONFIG_PARAM]]
    table = pd.DataFrame([{k: v for k, v in c.items() if k not in SKIP} for c in cfgs], index=runs.index)
    for k in schema.DESCRIBE:
        table[k] = runs[k].replace("", np.nan)
    table = table.astype(object).where(table.notna(), "")
    varying = [c for c in table.columns if table[c].astype(str).nunique() > 1]
    out = table[varying].copy()
    for c in varying:
        num = pd.to_numeric(out[c], errors="coerce")
        if num.notna().all():
            out[c] = num
        else:
            out[c] = out[c].astype(str)
    return out


def category_order(values) -> list[str]:
    """An axis of categories in order: numbers by value (2, 4, 8, 32, not '2', '32', '4', '8'),
    then words, then the empty value (a spec that has no such field) last."""

    def key(v: str):
        num = pd.to_numeric(v, errors="coerce")
        return (0, float(num), "") if pd.notna(num) else ((2, 0.0, "") if v == "" else (1, 0.0, v))

    return sorted(set(values), key=key)


def plot_parallel(summary: pd.DataFrame, runs: pd.DataFrame, metric: str, path: str | Path) -> None:
    """``parallel_figure`` saved as a PNG."""
    import matplotlib.pyplot as plt

    fig = parallel_figure(summary, runs, metric)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parallel_figure(summary: pd.DataFrame, runs: pd.DataFrame, metric: str):
    """One line per config mean: its varying params (numeric axes scaled to [0, 1], categories in
    order, numbers by value) and the metric's seed mean, coloured by the metric (with its bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = runs.drop_duplicates(schema.TAG_CONFIG_ID).set_index(schema.TAG_CONFIG_ID)
    params = params_table(first.reset_index()).set_index(first.index)
    if params.shape[1] < 1:
        raise PlotRefused("--plot-parallel: no param varies across this sweep's configs")
    mean = summary.set_index(schema.TAG_CONFIG_ID)[cols.mean(metric)].reindex(params.index)
    axes = [*params.columns, metric]
    scaled, ticks = pd.DataFrame(index=params.index), {}
    for c in params.columns:
        col = params[c]
        if pd.api.types.is_numeric_dtype(col):
            lo, hi = float(col.min()), float(col.max())
            scaled[c] = (col - lo) / (hi - lo or 1)
            ticks[c] = [(0.0, f"{lo:g}"), (1.0, f"{hi:g}")]
        else:
            cats = category_order(col)
            scaled[c] = col.map({v: i / max(len(cats) - 1, 1) for i, v in enumerate(cats)})
            ticks[c] = [(i / max(len(cats) - 1, 1), (v or "(none)")[:18]) for i, v in enumerate(cats)]
    lo, hi = float(mean.min()), float(mean.max())
    scaled[metric] = (mean - lo) / (hi - lo or 1)
    ticks[metric] = [(0.0, f"{lo:.3g}"), (1.0, f"{hi:.3g}")]
    fig, ax = plt.subplots(figsize=(max(6, 2 * len(axes)) + 1, 5))
    cmap = plt.get_cmap("viridis")
    for _, row in scaled.iterrows():
        ax.plot(range(len(axes)), row[axes].to_numpy(float), c=cmap(float(row[metric])), alpha=0.8, lw=1.5)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=plt.Normalize(lo, hi), cmap=cmap), ax=ax, pad=0.02)
    bar.set_label(f"{metric} (seed mean)")
    for i, a in enumerate(axes):
        ax.axvline(i, c="k", lw=0.6)
        for y, label in ticks[a]:
            ax.text(i + 0.03, y, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), axes, rotation=20)
    ax.set_yticks([])
    ax.set_title(f"{len(scaled)} configs: params -> {metric} (seed mean); colour: {metric}")
    fig.tight_layout()
    return fig


def importances(runs: pd.DataFrame, metric: str, mode: str = "max") -> dict[str, float]:
    """fANOVA importance of each varying param for the metric, over the finished runs."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    done = runs.dropna(subset=[metric])
    params = params_table(done)
    if params.shape[1] < 2:
        raise PlotRefused(f"--plot-importance: {params.shape[1]} param(s) vary across the runs; fANOVA needs 2 or more")
    if len(done) < params.shape[1] + 1:
        raise PlotRefused(f"--plot-importance: {len(done)} finished runs for {params.shape[1]} params; needs more runs")
    dists = {}
    for c in params.columns:
        col = params[c]
        if pd.api.types.is_numeric_dtype(col):
            dists[c] = FloatDistribution(float(col.min()), float(col.max()))
        else:
            dists[c] = CategoricalDistribution(sorted(col.unique()))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    for idx, p in params.iterrows():
        values = {c: (float(p[c]) if isinstance(dists[c], FloatDistribution) else p[c]) for c in params.columns}
        study.add_trial(
            optuna.trial.create_trial(params=values, distributions=dists, value=float(done.loc[idx, metric]))
        )
    try:
        return get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except RuntimeError as e:  # e.g. every run gave the same value: nothing to attribute
        raise PlotRefused(f"--plot-importance: fANOVA cannot attribute this sweep's {metric} ({e})") from None


def plot_importance(runs: pd.DataFrame, metric: str, path: str | Path, mode: str = "max") -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imp = importances(runs, metric, mode)
    names = list(imp)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.5))
    ax.barh(names, [imp[n] for n in names], color="#1f77b4")
    ax.set_xlabel(f"importance for {metric} (fANOVA, Optuna; sums to 1)")
    ax.set_title(f"parameter importance over {len(runs.dropna(subset=[metric]))} finished runs")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return imp
