"""Validation metric against estimated wall time at a link: what time to accuracy looks like.
One curve per config (mean over its seeds of the metric at each evaluated step, a band for the
spread: min to max), the step axis scaled by the config's est_batch_s at the link."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import schema

from . import link as linkmod
from .plots import config_colors, series_label


def seed_curves(runs: pd.DataFrame, experiment: str, cid: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values [seeds, steps]) over a config's runs whose curves share their steps."""
    rows = runs[(runs["experiment"] == experiment) & (runs[schema.TAG_CONFIG_ID] == cid)]
    curves = [json.loads(c) for c in rows[schema.CURVE] if isinstance(c, str) and c]
    curves = [c for c in curves if metric in c]
    if not curves:
        return None
    steps = curves[0]["step"]
    same = [c[metric] for c in curves if c["step"] == steps]
    return np.asarray(steps, dtype=float), np.asarray(same, dtype=float)


def plot_tta(summary: pd.DataFrame, runs: pd.DataFrame, metric: str, link: linkmod.Link, path: str | Path) -> int:
    """The plot; returns how many configs had curves (0: nothing drawn, no file written)."""
    import matplotlib.pyplot as plt

    fig, drawn = tta_figure(summary, runs, metric, link)
    if drawn:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def tta_figure(summary: pd.DataFrame, runs: pd.DataFrame, metric: str, link: linkmod.Link):
    """(the figure, how many configs it draws): one curve a config, in its own colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    several, drawn = summary["placement"].nunique() > 1, 0
    style = config_colors(summary)  # one colour a config, as in every plot of the report
    for _, r in summary.iterrows():
        got = seed_curves(runs, r["experiment"], r[schema.TAG_CONFIG_ID], metric)
        if got is None:
            continue
        steps, values = got
        t = steps * linkmod.estimate(r, link)
        color, marker = style[r[schema.TAG_CONFIG_ID]]
        ax.plot(t, values.mean(axis=0), c=color, marker=marker, ms=3, lw=1.5,
                label=f"{series_label(r, several)} (N={len(values)})")  # fmt: skip
        ax.fill_between(t, values.min(axis=0), values.max(axis=0), color=color, alpha=0.12)
        drawn += 1
    if drawn:
        ax.set_xscale("log")
        ax.set_xlabel(f"estimated wall time at {link.label} (s): steps x est_batch_s")
        ax.set_ylabel(f"{metric} (mean over seeds; band: min-max)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
    return fig, drawn
