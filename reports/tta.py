"""Time to accuracy: what a user waits for, not the time of one batch.

Each run logs its validation metric against the global step (schema.CURVE). The target of a
row is its baseline's final metric mean (the ``none`` row of the same experiment, task and
placement) minus ``gap`` (default 0.01: one point of accuracy). Per row:

- ``steps_to_target``: the mean over its seeds of the first evaluated step at which a run
  reaches the target; ``reached`` says on how many seeds it did (NaN when it reached on none:
  "not reached"). Evaluations are about 8 per run, so a step is resolved to that grid.
- ``tta_s_<link>`` = steps_to_target x est_batch_s_<link>.
- ``tta_speedup_<link>``: the baseline's time to target over the row's, the geometric mean over
  the seeds on which both reached it, with a Student-t 95% CI on the log ratios
  (``tta_speedup_<link>_low`` / ``_high``).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from scipy import stats as sps

import schema

from . import columns as cols
from .stats import CONFIDENCE, baseline_of

TARGET_GAP = 0.01
STEPS, REACHED = cols.STEPS.key, cols.REACHED.key


def first_step(curve_json: str, metric: str, target: float) -> float | None:
    """The first step whose metric is >= target; NaN when never; None when the run has no curve."""
    if not isinstance(curve_json, str) or not curve_json:
        return None
    curve = json.loads(curve_json)
    if metric not in curve:
        return None
    for step, value in zip(curve["step"], curve[metric], strict=True):
        if value >= target:
            return float(step)
    return math.nan


def per_seed_steps(runs: pd.DataFrame, experiment: str, cid: str, metric: str, target: float) -> dict[int, float]:
    """seed -> steps to target (NaN: not reached) over a config's runs that logged a curve."""
    rows = runs[(runs["experiment"] == experiment) & (runs[schema.TAG_CONFIG_ID] == cid)]
    out = {}
    for _, r in rows.iterrows():
        s = first_step(r[schema.CURVE], metric, target)
        if s is not None:
            out[int(r["seed"])] = s
    return out


def ratio_ci(ratios: list[float]) -> tuple[float, float, float]:
    """Geometric mean of ratios and its 95% CI (NaN below two ratios)."""
    if not ratios:
        return math.nan, math.nan, math.nan
    logs = np.log(np.asarray(ratios, dtype=float))
    mean = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return mean, math.nan, math.nan
    sem = float(sps.sem(logs))
    if sem == 0.0:
        return mean, mean, mean
    lo, hi = sps.t.interval(CONFIDENCE, len(logs) - 1, loc=logs.mean(), scale=sem)
    return mean, float(np.exp(lo)), float(np.exp(hi))


def add_tta(
    summary: pd.DataFrame, runs: pd.DataFrame, metric: str, links: list, gap: float = TARGET_GAP, vs: str = "none"
):
    """steps_to_target, reached and, per link, tta_s and tta_speedup (with its CI bounds)."""
    out = summary.copy()
    labels = [lk.label for lk in links]
    new = [STEPS, cols.TARGET.key]
    new += [c.name(lab) for lab in labels for c in (cols.TTA_S, cols.TTA_SPEEDUP, cols.TTA_SPEEDUP_LOW,
                                                     cols.TTA_SPEEDUP_HIGH)]  # fmt: skip
    for c in new:
        out[c] = math.nan
    out[REACHED] = ""
    for i, row in out.iterrows():
        base = baseline_of(out, row, vs)
        if base is None:
            continue
        target = float(base[cols.mean(metric)]) - gap
        mine = per_seed_steps(runs, row["experiment"], row[schema.TAG_CONFIG_ID], metric, target)
        if not mine:
            continue  # no curve logged (runs stored before it)
        hit = [s for s in mine.values() if not math.isnan(s)]
        out.loc[i, [cols.TARGET.key, STEPS]] = [target, float(np.mean(hit)) if hit else math.nan]
        out.loc[i, REACHED] = f"{len(hit)}/{len(mine)}"
        theirs = per_seed_steps(runs, base["experiment"], base[schema.TAG_CONFIG_ID], metric, target)
        for lab in labels:
            est, base_est = row[cols.EST_BATCH.name(lab)], base[cols.EST_BATCH.name(lab)]
            out.loc[i, cols.TTA_S.name(lab)] = out.loc[i, STEPS] * est
            both = [s for s in mine if s in theirs and not math.isnan(mine[s]) and not math.isnan(theirs[s])]
            r = ratio_ci([theirs[s] * base_est / (mine[s] * est) for s in both])
            three = (cols.TTA_SPEEDUP, cols.TTA_SPEEDUP_LOW, cols.TTA_SPEEDUP_HIGH)
            out.loc[i, [c.name(lab) for c in three]] = list(r)
    return cols.set_links(out, labels)


LOW_BITS = (3, 6)  # at most this many code bits forward and backward: a low-bit row
FEW_BYTES = 0.1  # or at most this fraction of fp32's bytes
SOONER = 3.0  # the speed-up a low-bit row is asked to reach


def _code_bits(spec: str) -> float | None:
    value = schema.describe({"fwd": spec or "none"})["bits"]
    return float(value) if value else None


def low_bit(row) -> bool:
    """At most 3 code bits forward and 6 backward, or at most a tenth of fp32's bytes."""
    fwd, bwd = _code_bits(row["fwd"]), _code_bits(row["bwd"] or row["fwd"])
    bits_ok = fwd is not None and bwd is not None and fwd <= LOW_BITS[0] and bwd <= LOW_BITS[1]
    return bits_ok or float(row[schema.RATIO]) <= FEW_BYTES


def soonest(summary: pd.DataFrame, labels: list[str]) -> str:
    """Per link, the row that reaches the target soonest (mean time to target over the seeds that
    reached it), and whether a low-bit row gets there SOONER x sooner than `none`."""
    if summary.empty or cols.STEPS.key not in summary:
        return ""
    lines = []
    for lab in labels:
        t, sp = cols.TTA_S.name(lab), cols.TTA_SPEEDUP.name(lab)
        lo, hi = cols.TTA_SPEEDUP_LOW.name(lab), cols.TTA_SPEEDUP_HIGH.name(lab)
        got = summary[summary[t].notna()]
        if got.empty:
            lines.append(f"At {lab} no row reached the target.")
            continue
        best = got.loc[got[t].idxmin()]
        ci = "" if pd.isna(best[lo]) else f" [{best[lo]:.2f}, {best[hi]:.2f}]"
        line = (f"At {lab} {schema.config_label(best['fwd'], best['bwd'], code=True)}"
                f" reaches the target soonest: {best[t]:.0f} s, {best[sp]:.2f}x{ci} against `none`.")  # fmt: skip
        low = got[[low_bit(r) for _, r in got.iterrows()]]
        fast = low[low[sp] >= SOONER]
        if fast.empty:
            line += (f" No row with at most {LOW_BITS[0]} bits forward and {LOW_BITS[1]} backward (or a tenth of "
                     f"fp32's bytes) gets there {SOONER:g}x sooner than `none`"
                     + (f" (the best: `{low.loc[low[sp].idxmax(), 'fwd']}`, {low[sp].max():.2f}x)." if not
                        low.empty and low[sp].notna().any() else "."))  # fmt: skip
        else:
            names = ", ".join(f"`{r['fwd']}` ({r[sp]:.2f}x)" for _, r in fast.iterrows())
            line += f" Low-bit rows {SOONER:g}x sooner or more: {names}."
        lines.append(line)
    return " ".join(lines)
