"""The report of an experiment: per config the metric's mean ± std over distinct seeds, the
paired difference to the baseline with its 95% CI, the costs, the link model's estimated batch
time and speed-up, and the Pareto front; as Markdown, CSV or JSON, plus plots."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import schema

from . import columns as cols
from . import link as linkmod
from . import runs, stats, tta
from .measured import add_measured

METRICS = schema.REPORTED


@dataclass
class Report:
    summary: pd.DataFrame
    failed: pd.DataFrame
    runs: pd.DataFrame  # the complete, de-duplicated runs behind the summary
    notes: list[str] = field(default_factory=list)


def build(
    df: pd.DataFrame,
    metric: str,
    vs: str = "none",
    links: list[linkmod.Link] | None = None,
    include_stopped: bool = False,
    target_gap: float = tta.TARGET_GAP,
    pair_across: bool = False,
    microbatches: int = linkmod.MICROBATCHES,
    measured: list[dict] | None = None,
) -> Report:
    """From a run table (MLflow or runs.csv): the summary with paired stats, links and front."""
    done, dropped = runs.complete(df, include_stopped)
    failed = df[df["status"] == "FAILED"]
    summary = stats.summarize(done, metric)
    summary = stats.paired(summary, done, metric, vs, pair_across)
    summary = stats.add_floor(summary, done)
    summary = linkmod.add_costs(summary, done)
    summary = linkmod.add_link_columns(summary, links or [], microbatches=microbatches)
    summary = linkmod.add_pareto(summary, metric)
    summary = tta.add_tta(summary, done, metric, links or [], target_gap, vs)
    measured_note = ""
    if measured is not None:
        summary, measured_note = add_measured(summary, measured, links or [])
    notes = [n for n in (across_note(summary), measured_note) if n]
    if dropped["duplicates"]:
        notes.append(f"{dropped['duplicates']} duplicate (config, seed) runs ignored: the latest of each counts")
    if dropped["stopped"]:
        notes.append(f"{dropped['stopped']} early-stopped runs left out (--include-stopped shows them)")
    return Report(summary, failed, done, notes)


def across_note(summary: pd.DataFrame) -> str:
    """The note on seed pairs the paired Δ of these rows left out (not known to share a machine)."""
    across = int(summary[cols.N_ACROSS.key].sum()) if cols.N_ACROSS.key in summary else 0
    if not across:
        return ""
    return (
        f"{across} seed pairs left out of the paired Δ: their two runs are not known to have run on one "
        "machine (two hosts, or a host not recorded; --pair-across-machines pairs them)"
    )


def for_task(rep: Report, task: str) -> Report:
    """The report's rows, runs and notes of one task (a note on left-out pairs counts its own)."""
    summary = rep.summary[rep.summary["task"] == task]
    notes = [n for n in rep.notes if n != across_note(rep.summary)]
    notes = [n for n in (across_note(summary),) if n] + notes
    return Report(summary, rep.failed[rep.failed["task"] == task], rep.runs[rep.runs["task"] == task], notes)


def report(uri: str, name: str, metric: str, **kw) -> Report:
    return build(runs.from_mlflow(uri, name), metric, **kw)


def fmt_pm(mean: float, std: float, metric: str) -> str:
    if math.isnan(mean):
        return "-"
    pct = metric == schema.VAL_ACC
    scale, unit, nd = (100, "%", 1) if pct else (1, "", 3)
    s = f"{mean * scale:.{nd}f}{unit}"
    return s + ("" if math.isnan(std) else f" ± {std * scale:.{nd}f}")


def fmt_delta(r, metric: str) -> str:
    """'-1.2 [-3.0, +0.6]' in points (accuracy) or metric units."""
    if r.get(cols.N_PAIRED.key, 0) == 0 or math.isnan(r[cols.DELTA.key]):
        return ""
    scale, nd = (100, 1) if metric == schema.VAL_ACC else (1, 3)
    lo, hi = r[cols.DELTA_LOW.key], r[cols.DELTA_HIGH.key]
    ci = "" if math.isnan(lo) else f" [{lo * scale:+.{nd}f}, {hi * scale:+.{nd}f}]"
    paired = int(r[cols.N_PAIRED.key])
    on = f" (N={paired} paired)" if paired != int(r["n"]) else ""  # the mean and Δ rest on other seeds
    return f"{r[cols.DELTA.key] * scale:+.{nd}f}{ci}{on}"


def link_labels(summary: pd.DataFrame) -> list[str]:
    """The links the summary's per-link columns were built for (the column registry keeps them)."""
    return cols.links_of(summary)


def display(summary: pd.DataFrame, metric: str, vs: str = "none") -> pd.DataFrame:
    """The human table: setting, metric mean ± std, N, paired Δ with its 95% CI, costs, links."""
    rows = []
    unit = "pts" if metric == schema.VAL_ACC else metric
    clean = cols.mean(schema.CLEAN.get(metric))
    has_clean = clean in summary.columns and summary[clean].notna().any()
    settings = stats.SETTING_LABEL in summary.columns and summary[stats.SETTING_LABEL].fillna("").ne("").any()
    for _, r in summary.iterrows():
        row = {
            "task": r["task"],
            "placement": r["placement"],
            "fwd": r["fwd"],
            "bwd": r["bwd"] or "(default)",
        }
        if settings:  # rows of several training settings: each compared with its own setting's baseline
            row["setting"] = r[stats.SETTING_LABEL] or "(base)"
        row |= {
            metric: fmt_pm(r[cols.mean(metric)], r[cols.std(metric)], metric),
            "N": int(r["n"]),
            f"Δ vs {vs} {unit} [95% CI]": fmt_delta(r, metric),
            "SNR fwd/bwd dB": f"{r['snr_fwd_db']:.1f} / {r['snr_bwd_db']:.1f}",
            "bytes/sample fwd+bwd": f"{r['bytes_fwd']:.0f}+{r['bytes_bwd']:.0f}",
            cols.BYTES_RUN.header: cols.BYTES_RUN.text(r[cols.BYTES_RUN.key]),
            schema.RATIO: f"{r['ratio']:.3f}",
            "step s (own)": f"{r['step_time']:.3f}",
            cols.COMPUTE_S.header: cols.COMPUTE_S.text(r[cols.COMPUTE_S.key]),
            cols.COMPRESS_S.header: cols.COMPRESS_S.text(r[cols.COMPRESS_S.key]),
        }
        if has_clean:
            row[f"{metric} eval uncompressed"] = fmt_pm(r[clean], math.nan, metric)
        if r.get(schema.BUFFER_MB, 0) and not math.isnan(r[schema.BUFFER_MB]) and r[schema.BUFFER_MB] > 0:
            row["step s (own)"] += f" ({r['buffer_mb']:.0f} MB buffers)"
        for lab in link_labels(summary):
            est, over, pipe = cols.EST_BATCH, cols.EST_OVERLAP, cols.EST_1F1B
            row[est.label(lab)] = f"{est.text(r[est.name(lab)])} ({over.text(r[over.name(lab)])})"
            row[pipe.label(lab)] = pipe.text(r[pipe.name(lab)])
            row[cols.SPEEDUP.label(lab)] = cols.SPEEDUP.text(r[cols.SPEEDUP.name(lab)])
        row.update(tta_cells(r, link_labels(summary)))
        row["front"] = "★" if r.get("pareto") else ("floor" if r.get(stats.AT_FLOOR) else "")
        row[schema.TAG_CONFIG_ID] = r[schema.TAG_CONFIG_ID]
        rows.append(row)
    return pd.DataFrame(rows)


def tta_cells(r, labels: list[str]) -> dict[str, str]:
    """Steps to the target (on how many seeds) and, per link, the time to it and the speed-up."""
    if not r.get(cols.REACHED.key):
        return {}
    steps = r[cols.STEPS.key]
    out = {cols.STEPS.header: (cols.STEPS.text(steps) or "not reached") + f" ({r[cols.REACHED.key]})"}
    for lab in labels:
        sp = r[cols.TTA_SPEEDUP.name(lab)]
        lo, hi = r[cols.TTA_SPEEDUP_LOW.name(lab)], r[cols.TTA_SPEEDUP_HIGH.name(lab)]
        out[cols.TTA_S.label(lab)] = cols.TTA_S.text(r[cols.TTA_S.name(lab)])
        measured = r.get(cols.TTA_MEASURED.name(lab), math.nan)
        if not math.isnan(measured):
            out[cols.TTA_S.label(lab)] += f" (measured step: {cols.TTA_MEASURED.text(measured)})"
        ci = "" if math.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]"
        out[cols.TTA_SPEEDUP.label(lab)] = "" if math.isnan(sp) else f"{cols.TTA_SPEEDUP.text(sp)}{ci}"
    return out


def markdown(df: pd.DataFrame) -> str:
    if df.empty:
        return "(no runs)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(lines) + "\n"


NUMERIC_TEXT = schema.DESCRIBE[1:]  # describe()'s columns, strings in MLflow tags


def typed(record: dict) -> dict:
    """A JSON record with numbers as numbers and a missing value as null ('' and NaN alike)."""
    out = {}
    for k, v in record.items():
        if v == "":
            v = None
        elif k in NUMERIC_TEXT and isinstance(v, str):
            try:
                v = int(v) if v.lstrip("-").isdigit() else float(v)
            except ValueError:
                pass  # iters=converge stays a word
        out[k] = v
    return out


def render(rep: Report, metric: str, fmt: str, vs: str = "none") -> str:
    if fmt == "json":
        records = [typed(r) for r in json.loads(rep.summary.to_json(orient="records"))]
        return json.dumps(records, indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        rep.summary.to_csv(buf, index=False)
        return buf.getvalue()
    text = markdown(display(rep.summary, metric, vs))
    for note in rep.notes:
        text += f"\nNote: {note}.\n"
    if not rep.failed.empty:
        text += f"\nFailed trials ({len(rep.failed)}, not counted in N):\n\n"
        text += markdown(rep.failed[["fwd", "bwd", "placement", "seed", schema.TAG_ERROR]])
    return text


def summary_files(rep: Report, metric: str, folder: Path, name: str) -> dict[str, str | Path]:
    """The experiment's summary as files (the table as Markdown, CSV and JSON, the plot, and the
    sweep plots where the sweep varies enough): what the summary run holds."""
    files: dict[str, str | Path] = {f"summary_{metric}.{f}": render(rep, metric, f) for f in ("md", "csv", "json")}
    from .plots import plot, sweep_plot_files

    files["summary.png"] = folder / "summary.png"
    plot(rep.summary, metric, files["summary.png"], title=name)
    files.update(sweep_plot_files(rep.summary, rep.runs, metric, folder))
    return files
