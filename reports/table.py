"""Group FINISHED trial runs by config_id: the metric's last-epoch value, mean ± sample std
(ddof=1) over seeds, N, and the means of the cost columns."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from schema.store import client, experiment_id, search

METRICS = (
    "val_acc",
    "val_mcc",
    "val_majority",
    "train_loss",
    "step_time",
    "compress_time",
    "bytes_fwd",
    "bytes_bwd",
    "ratio",
    "snr_fwd_db",
    "snr_bwd_db",
)
COST = ("snr_fwd_db", "snr_bwd_db", "bytes_fwd", "bytes_bwd", "ratio", "step_time", "compress_time")
KEYS = ("config_id", "method", "bits", "split_bits", "prune_ratio", "iters", "placement", "fwd", "bwd")


def runs_frame(runs) -> pd.DataFrame:
    rows = []
    for r in runs:
        t, p, m = r.data.tags, r.data.params, r.data.metrics
        row = {k: t.get(k, p.get(k, "")) for k in KEYS}
        row.update(
            fwd=p.get("fwd", ""),
            bwd=p.get("bwd", "") or "",
            seed=int(t.get("seed", -1)),
            run_id=r.info.run_id,
            status=r.info.status,
            error=t.get("error", ""),
        )
        row.update({k: m.get(k, math.nan) for k in METRICS})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*KEYS, "seed", "run_id", "status", "error", *METRICS])


def summarize(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per config: <metric>_mean, <metric>_std (ddof=1; NaN for N=1), n, cost means."""
    if df.empty:
        return pd.DataFrame(columns=[*KEYS, f"{metric}_mean", f"{metric}_std", "n", *COST, "seeds"])
    g = df.groupby("config_id", sort=False)
    out = g[[k for k in KEYS if k != "config_id"]].first()
    out[f"{metric}_mean"] = g[metric].mean()
    out[f"{metric}_std"] = g[metric].std(ddof=1)
    out["n"] = g[metric].count()
    for c in COST:
        out[c] = g[c].mean()
    out["seeds"] = g["seed"].apply(lambda s: ",".join(str(v) for v in sorted(s)))
    out = out.reset_index()
    order = {"none": 0, "uniform": 1, "sortquant": 2, "topk": 3, "kmeans": 4}
    bits = pd.to_numeric(out["bits"], errors="coerce").fillna(0)
    out = out.assign(_m=out["method"].map(order).fillna(9), _b=-bits)
    return out.sort_values(["placement", "_m", "_b", "prune_ratio", "iters"]).drop(columns=["_m", "_b"])


def fmt_pm(mean: float, std: float, metric: str) -> str:
    if math.isnan(mean):
        return "-"
    pct = metric == "val_acc"
    scale, unit, nd = (100, "%", 1) if pct else (1, "", 3)
    s = f"{mean * scale:.{nd}f}{unit}"
    return s + ("" if math.isnan(std) else f" ± {std * scale:.{nd}f}")


def display(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The human table: setting columns, metric mean ± std, N, then the costs."""
    rows = []
    for _, r in summary.iterrows():
        rows.append(
            {
                "placement": r["placement"],
                "fwd": r["fwd"],
                "bwd": r["bwd"] or "(default)",
                "method": r["method"],
                "bits": r["bits"],
                "splits": r["split_bits"],
                "prune": r["prune_ratio"],
                metric: fmt_pm(r[f"{metric}_mean"], r[f"{metric}_std"], metric),
                "N": int(r["n"]),
                "SNR fwd/bwd dB": f"{r['snr_fwd_db']:.1f} / {r['snr_bwd_db']:.1f}",
                "bytes/sample fwd": f"{r['bytes_fwd']:.0f}",
                "ratio": f"{r['ratio']:.3f}",
                "step s": f"{r['step_time']:.3f}",
                "compress s": f"{r['compress_time']:.4f}",
                "config_id": r["config_id"],
            }
        )
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    if df.empty:
        return "(no runs)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def render(summary: pd.DataFrame, metric: str, fmt: str, failed: pd.DataFrame | None = None) -> str:
    if fmt == "json":
        recs = json.loads(summary.to_json(orient="records"))
        return json.dumps(recs, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        summary.to_csv(buf, index=False)
        return buf.getvalue()
    text = markdown(display(summary, metric))
    if failed is not None and not failed.empty:
        text += f"\nFailed trials ({len(failed)}, not counted in N):\n\n"
        text += markdown(failed[["fwd", "placement", "seed", "error"]])
    return text


def plot(summary: pd.DataFrame, metric: str, path: str | Path, title: str = "") -> None:
    """Metric vs bits per method (error bars: std over seeds), and metric vs bytes/sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (method, placement), g in summary.groupby(["method", "placement"], sort=False):
        label = f"{method} @ {placement}"
        std = g[f"{metric}_std"].fillna(0)
        if method == "none":
            for ax in (a1,):
                ax.axhline(g[f"{metric}_mean"].iloc[0], ls="--", c="gray", lw=1, label=f"none @ {placement}")
        elif method != "topk":
            bits = pd.to_numeric(g["bits"], errors="coerce")
            o = np.argsort(bits.values)
            a1.errorbar(
                bits.values[o],
                g[f"{metric}_mean"].values[o],
                yerr=std.values[o],
                marker="o",
                capsize=3,
                label=label,
            )
        a2.errorbar(g["bytes_fwd"], g[f"{metric}_mean"], yerr=std, fmt="o", capsize=3, label=label)
    a1.set_xlabel("bits per value")
    a1.set_ylabel(metric)
    a1.set_title("metric vs bits (mean ± std over seeds)")
    a1.legend(fontsize=7)
    a2.set_xscale("log")
    a2.set_xlabel("forward bytes per sample (all cuts)")
    a2.set_title("metric vs bytes on the wire")
    a2.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(uri: str, name: str, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary of FINISHED runs, the FAILED runs) of an experiment."""
    finished = runs_frame(search(uri, name, "FINISHED"))
    failed = runs_frame(search(uri, name, "FAILED"))
    return summarize(finished, metric), failed


def save_summary_run(uri: str, name: str, files: dict[str, str | Path]) -> str:
    """A summary run in the experiment holding the table (and plot) as artifacts.
    ``files``: artifact name -> text content, or a Path to copy."""
    import tempfile

    c = client(uri)
    exp = experiment_id(uri, name, create=False)
    run = c.create_run(exp, run_name="summary", tags={"compsweep.summary": "true"})
    with tempfile.TemporaryDirectory() as d:
        for fname, content in files.items():
            p = Path(d) / fname
            if isinstance(content, Path):
                p.write_bytes(content.read_bytes())
            else:
                p.write_text(content)
            c.log_artifact(run.info.run_id, str(p))
    c.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
