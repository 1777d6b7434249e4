"""Per-config statistics over seeds: mean ± sample std and N (distinct seeds), and the paired
difference to the baseline of the same task and placement over the seeds both have, with a
Student-t 95% confidence interval (seeds are paired by design: the same seed gives the same
initialisation and data order in every config)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from scipy import stats

import compression
import schema

from . import columns as cols
from .runs import KEYS

CONFIDENCE = 0.95
AT_FLOOR = "at_floor"
FLOOR_MARGIN = 0.005  # within half a point of the majority class on every seed: at the floor
UNRECORDED = "unrecorded"  # the machine of runs stored before runs recorded their host
SETTING, SETTING_LABEL = "setting", "setting_label"  # the training a config ran, beside its compressors
NOT_SETTING = (*schema.SPEC_KEYS, "placement", *schema.NOT_CONFIG)  # what a row varies within one setting


def setting_of(config_json: str) -> dict:
    """A run's training setting: its config without the compressors, the cut and the seed."""
    try:
        cfg = json.loads(config_json or "{}")
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in cfg.items() if k not in NOT_SETTING and v is not None}


def add_setting(summary: pd.DataFrame) -> pd.DataFrame:
    """setting (an id of the config without compressors, cut and seed) and setting_label (the
    keys that differ between the settings of one experiment and task, "k=v, ..."; "" where all
    rows share one setting): rows are compared only within one setting."""
    out = summary.copy()
    settings = [setting_of(c) for c in out[schema.CONFIG_PARAM]]
    out[SETTING] = [schema.config_id(s) if s else "" for s in settings]
    labels = [""] * len(out)
    for _, idx in out.groupby(["experiment", "task"], sort=False).groups.items():
        pos = [out.index.get_loc(i) for i in idx]
        mine = [settings[p] for p in pos]
        keys = sorted({k for s in mine for k in s})
        varying = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in mine}) > 1]
        for p in pos:
            labels[p] = ", ".join(f"{k}={settings[p][k]}" for k in varying if k in settings[p])
    out[SETTING_LABEL] = labels
    return out
METHOD_ORDER = {m: i for i, m in enumerate(compression.METHODS)}  # the order specs are defined in


def summarize(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (experiment, config): <metric>_mean, <metric>_std (ddof=1; NaN for N=1), n
    (distinct seeds), seeds, the cost columns' means, batch_size and cuts."""
    keep = [*KEYS, "experiment", cols.mean(metric), cols.std(metric), "n", "seeds", *schema.COST, "batch_size", "cuts"]
    keep += [schema.CONFIG_PARAM, SETTING, SETTING_LABEL]
    if df.empty:
        return pd.DataFrame(columns=keep)
    g = df.groupby(["experiment", schema.TAG_CONFIG_ID], sort=False)
    out = g[[k for k in KEYS if k != schema.TAG_CONFIG_ID] + ["batch_size", "cuts", schema.CONFIG_PARAM]].first()
    out[cols.mean(metric)] = g[metric].mean()
    out[cols.std(metric)] = g[metric].std(ddof=1)
    out["n"] = g["seed"].nunique()
    for c in schema.COST:
        out[c] = g[c].mean()
    clean = schema.CLEAN.get(metric)
    if clean in df.columns:  # the last epoch evaluated without compression (runs before it: NaN)
        out[cols.mean(clean)] = (
            pd.to_numeric(df[clean], errors="coerce")
            .groupby([df["experiment"], df[schema.TAG_CONFIG_ID]], sort=False)
            .mean()
        )
        keep.append(cols.mean(clean))
    out["seeds"] = g["seed"].apply(lambda s: ",".join(str(v) for v in sorted(s)))
    out = out.reset_index()
    bits = pd.to_numeric(out["bits"], errors="coerce").fillna(0)
    out = out.assign(_m=out["method"].map(METHOD_ORDER).fillna(9), _b=-bits)
    out = out.sort_values(["experiment", "task", "placement", "_m", "_b", "fwd", "bwd"], kind="stable")
    out = add_setting(out.drop(columns=["_m", "_b"]).reset_index(drop=True))
    return out[keep]


def add_floor(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """at_floor: the row's val_acc is at most the validation majority rate + FLOOR_MARGIN on every
    seed (the run's logged val_majority, else its task's): it learned nothing a constant
    answer would not."""
    import trainables

    out = summary.copy()
    out[AT_FLOOR] = False
    if out.empty:
        return out
    rate = pd.to_numeric(runs[schema.VAL_MAJORITY], errors="coerce")
    task_rate = runs["task"].map(lambda t: trainables.task(t).majority if t in trainables.task_names() else None)
    rate = rate.fillna(pd.to_numeric(task_rate, errors="coerce"))
    low = pd.to_numeric(runs[schema.VAL_ACC], errors="coerce") <= rate + FLOOR_MARGIN
    floor = low.groupby([runs["experiment"], runs[schema.TAG_CONFIG_ID]]).all()
    out[AT_FLOOR] = [bool(floor.get(k, False)) for k in zip(out["experiment"], out[schema.TAG_CONFIG_ID], strict=True)]
    return out


def is_baseline(row, vs: str = "none") -> bool:
    """The reference of a placement: forward ``vs`` with an uncompressed (or default) backward."""
    return row["fwd"] == vs and row["bwd"] in ("", "none", "None", vs)


def same_cut(
    summary: pd.DataFrame, experiment: str, task: str, placement: str, setting: str | None = None
) -> pd.Series:
    """Rows of one experiment, task and placement (and training setting, when given): what a row
    is compared within."""
    hit = (summary["experiment"] == experiment) & (summary["task"] == task) & (summary["placement"] == placement)
    if setting is not None and SETTING in summary:
        hit &= summary[SETTING] == setting
    return hit


def baseline_of(summary: pd.DataFrame, row, vs: str = "none") -> pd.Series | None:
    """The one definition of a row's baseline: the ``vs`` row of its experiment, task, placement
    and training setting."""
    base = summary[same_cut(summary, row["experiment"], row["task"], row["placement"], row.get(SETTING))]
    base = base[base.apply(is_baseline, axis=1, vs=vs)] if not base.empty else base
    return None if base.empty else base.iloc[0]


def paired_ci(diffs: np.ndarray) -> tuple[float, float, float]:
    """(mean, CI low, CI high) of paired differences; the CI is NaN below two pairs."""
    n = len(diffs)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(diffs))
    if n < 2:
        return mean, math.nan, math.nan
    sem = float(stats.sem(diffs))
    if sem == 0.0:
        return mean, mean, mean
    lo, hi = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)


def paired(summary: pd.DataFrame, df: pd.DataFrame, metric: str, vs: str = "none", pair_across: bool = False):
    """Adds delta_mean, delta_ci_low, delta_ci_high, n_paired and baseline_id: this config minus
    the baseline of its experiment, task and placement, over the seeds both have."""
    out = summary.copy()
    for c in (cols.DELTA.key, cols.DELTA_LOW.key, cols.DELTA_HIGH.key):
        out[c] = math.nan
    out[cols.N_PAIRED.key] = 0
    out[cols.N_ACROSS.key] = 0  # seed pairs left out: the two runs ran on two machines
    out["baseline_id"] = ""
    if out.empty:
        return out
    for i, row in out.iterrows():
        b = baseline_of(out, row, vs)
        if b is None:
            continue
        d = difference(
            df,
            metric,
            (row["experiment"], row[schema.TAG_CONFIG_ID]),
            (b["experiment"], b[schema.TAG_CONFIG_ID]),
            pair_across,
        )
        out.loc[i, [cols.DELTA.key, cols.DELTA_LOW.key, cols.DELTA_HIGH.key]] = [d["mean"], d["low"], d["high"]]
        out.loc[i, cols.N_PAIRED.key] = d["n"]
        out.loc[i, cols.N_ACROSS.key] = d["across"]
        out.loc[i, "baseline_id"] = b[schema.TAG_CONFIG_ID]
    return out


def machine(runs: pd.DataFrame) -> pd.Series:
    """Where each run ran: its host hash, or "unrecorded" for runs stored before hosts were."""
    return runs[schema.TAG_HOST].fillna("").astype(str).replace("", UNRECORDED)


def one_machine(a: str, b: str) -> bool:
    """Two runs ran on one machine: the same recorded host. Runs with no recorded host are not
    known to share one, whatever they were stored beside (the same seed differs across CPUs)."""
    return a == b and a != UNRECORDED


def difference(df: pd.DataFrame, metric: str, a: tuple, b: tuple, pair_across: bool = False) -> dict:
    """Paired a - b between two configs given as (experiment, config_id): mean, CI, n, and the
    seeds and their differences (finite pairs only). A seed pairs only when both runs ran on one
    machine (unless ``pair_across``); pairs left out for that are counted in ``across``."""
    d = df.assign(_machine=machine(df)).set_index(["experiment", schema.TAG_CONFIG_ID, "seed"]).sort_index()
    try:
        x, y = d.loc[a], d.loc[b]
    except KeyError:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0, "seeds": [], "diffs": [], "across": 0}
    common = sorted(set(x.index) & set(y.index))
    same = [s for s in common if pair_across or one_machine(x.loc[s, "_machine"], y.loc[s, "_machine"])]
    diffs = np.array([x.loc[s, metric] - y.loc[s, metric] for s in same], dtype=float)
    keep = np.isfinite(diffs)
    mean, lo, hi = paired_ci(diffs[keep])
    seeds = [s for s, k in zip(same, keep, strict=True) if k]
    across = len(common) - len(same)
    note = f"{across} seed pair(s) not known to share a machine are left out" if across else ""
    return {"mean": mean, "low": lo, "high": hi, "n": int(keep.sum()), "seeds": seeds, "diffs": diffs[keep].tolist(),
            "across": across, "note": note}  # fmt: skip


def replicates(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The same (config, seed) finished in more than one experiment: one row per later run, paired
    with the first (by start time), with both metrics and whether the runs were identical (train
    loss equal to the last digit). On one machine a run is deterministic; across machines the CPU
    kernels round differently, and a few epochs amplify that into differences the size of a seed's."""
    cols = [schema.TAG_CONFIG_ID, "seed", "experiment_a", "experiment_b", "a", "b", "identical"]
    cols += ["machine_a", "machine_b"]
    runs = df.dropna(subset=[metric]).sort_values("start_time")
    runs = runs.assign(_machine=machine(runs))
    rows = []
    for (cid, seed), g in runs.groupby([schema.TAG_CONFIG_ID, "seed"]):
        g = g.drop_duplicates("experiment")
        if len(g) < 2:
            continue
        ra = g.iloc[0]
        for _, rb in g.iloc[1:].iterrows():
            same = bool(ra[schema.TRAIN_LOSS] == rb[schema.TRAIN_LOSS]) and bool(ra[metric] == rb[metric])
            where = [ra["_machine"], rb["_machine"]]
            rows.append([cid, seed, ra["experiment"], rb["experiment"], ra[metric], rb[metric], same, *where])
    return pd.DataFrame(rows, columns=cols)
