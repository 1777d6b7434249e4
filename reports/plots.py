"""The report's plots: each config where the table puts it (bits per value, bytes per sample, the
batch estimate at a link), one colour and marker a config in every plot; and the sweep plots
(parallel coordinates, parameter importance) where a sweep varies enough to draw them."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

import schema

from . import columns as cols
from . import link as linkmod
from . import stats

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
DEFAULT_PLOT_LINK = "100mbit"


def config_colors(summary: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """One (colour, marker) per config, in the table's row order: every plot draws a config the same
    way, and no two configs of a plot share both (tab20's 20 colours, then markers change)."""
    import matplotlib

    palette = [matplotlib.colors.to_hex(c) for c in matplotlib.colormaps["tab20"].colors]
    palette = palette[0::2] + palette[1::2]  # the strong tones first, their light pairs after
    ids = list(dict.fromkeys(summary[schema.TAG_CONFIG_ID])) if not summary.empty else []
    return {cid: (palette[k % len(palette)], MARKERS[(k // len(palette)) % len(MARKERS)]) for k, cid in enumerate(ids)}


def series_label(r, several_placements: bool) -> str:
    """A legend entry names the setting: the forward spec, the backward when it is not the
    default, the cut when a plot has several."""
    return schema.config_label(r["fwd"], r["bwd"], r["placement"] if several_placements else None,
                               r.get(stats.SETTING_LABEL) or "")  # fmt: skip


def plot_points(summary: pd.DataFrame, link: linkmod.Link) -> pd.DataFrame:
    """Where each config is drawn, from the table's own numbers (no offset on any axis): bits per
    value on the wire (32 x ratio), run-average bytes per sample, the serial batch estimate."""
    s = summary.copy()
    s["_bits"] = 32 * s[schema.RATIO]
    s["_bytes"] = linkmod.wire_bytes(s) if not s.empty else []
    s["_time"] = [linkmod.estimate(r, link) for _, r in s.iterrows()] if not s.empty else []
    return s


def figure(summary: pd.DataFrame, metric: str, title: str = "", link: linkmod.Link | None = None):
    """Three panels, one series per config (legend: its spec; one colour and marker a config),
    error bars = std over seeds: the metric against bits per value on the wire, against bytes per
    sample (with the Pareto front), and against the estimated batch time at a link (100 Mbit/s
    unless given, with the front of that plane). Points sit at the table's values: configs that
    coincide are told apart by colour and marker, never moved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    link = link or linkmod.parse_links(DEFAULT_PLOT_LINK)[0]
    s = plot_points(summary, link)
    several = s["placement"].nunique() > 1
    style = config_colors(s)
    legend_rows = -(-len(s) // 3)  # the legend goes below the panels, three entries a row
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8 + 0.2 * legend_rows))
    for _, r in s.iterrows():
        color, marker = style[r[schema.TAG_CONFIG_ID]]
        label = series_label(r, several)
        for ax, x in zip(axes, (r["_bits"], r["_bytes"], r["_time"]), strict=True):
            ax.errorbar(x, r[cols.mean(metric)], yerr=0 if math.isnan(r[cols.std(metric)]) else r[cols.std(metric)],
                        fmt=marker, c=color, capsize=3, alpha=0.85, label=label if ax is axes[0] else None)  # fmt: skip
    for ax, x, name in ((axes[1], "_bytes", "Pareto front"), (axes[2], "_time", f"front at {link.label}")):
        ok = linkmod.eligible(s)
        front = s[linkmod.pareto_mask(s[x].to_numpy(float), s[cols.mean(metric)].to_numpy(float), ok)].sort_values(x)
        ax.step(front[x], front[cols.mean(metric)], where="post", c="k", lw=1, alpha=0.6, label=name)
    axes[0].set_xlabel("bits per value on the wire (32 x ratio)")
    axes[1].set_xlabel("bytes per sample on the wire (fwd + bwd, all cuts, run average)")
    axes[2].set_xlabel(f"est. time per batch at {link.label} (s)")
    for ax in axes[1:]:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # 1-2-5 ticks, readable
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor ticks unlabelled: labels never collide
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes:
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, (0.2 * legend_rows + 0.1) / (4.8 + 0.2 * legend_rows), 1, 1))
    return fig


def plot(
    summary: pd.DataFrame, metric: str, path: str | Path, title: str = "", link: linkmod.Link | None = None
) -> None:
    """``figure`` saved as a PNG."""
    import matplotlib.pyplot as plt

    fig = figure(summary, metric, title, link)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)



def sweep_plot_files(summary: pd.DataFrame, runs: pd.DataFrame, metric: str, folder: Path) -> dict[str, Path]:
    """The parallel-coordinates and importance plots where the sweep varies enough to draw them."""
    from .sweep_plots import PlotRefused, plot_importance, plot_parallel

    out = {}
    for name, draw in (
        ("parallel.png", lambda p: plot_parallel(summary, runs, metric, p)),
        ("importance.png", lambda p: plot_importance(runs, metric, p)),
    ):
        try:
            draw(folder / name)
            out[name] = folder / name
        except PlotRefused:
            pass
    return out
