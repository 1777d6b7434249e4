"""Time to target from measured steps: ``link-check --record FILE`` keeps the steady step time of
a real (micro-batched, overlapped) pipeline per (setting, method, link); ``report --measured FILE``
multiplies a row's steps to target by it.

- ``step_measured_s_<link>``: the record's steady step time for the row's task, forward method
  and setting (model, batch size, input size or length, placement), at that link;
- ``tta_measured_<link>`` = steps_to_target x step_measured_s_<link>.

Rows with no record keep the estimate alone (``tta_s_<link>``); the report says which it shows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

import schema

from . import columns as cols

BWD_SEP = " bwd="  # a method with its own backward, as spaces -v and link-check --method write it
# config keys a record and a row must share (or both lack); the placement decides the stages and cuts
MATCH = ("model", "batch_size", "image_size", "max_length", "placement")


def method_config(method: str) -> dict:
    """A method as link-check --method takes it, ``FWD`` or ``FWD bwd=BWD`` (as ``spaces -v``
    prints a row), as config keys."""
    fwd, _, bwd = method.partition(BWD_SEP)
    return {"fwd": fwd.strip(), **({"bwd": bwd.strip()} if bwd.strip() else {})}


def method_label(config: dict) -> str:
    """A config's method as link-check --method takes it back."""
    return config["fwd"] + (f"{BWD_SEP}{config['bwd']}" if config.get("bwd") else "")


def load(path: str | Path) -> list[dict]:
    """The records a link-check --record wrote; ValueError naming what is wrong."""
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"--measured {path}: not a file link-check --record wrote ({e})") from e
    need = {"task", "method", "link", "measured_s", "config"}
    if not isinstance(rows, list) or any(not isinstance(r, dict) or need - set(r) for r in rows):
        raise ValueError(f"--measured {path}: each record needs {', '.join(sorted(need))}")
    return rows


def _same_setting(record: dict, row) -> bool:
    cfg = json.loads(row[schema.CONFIG_PARAM]) if isinstance(row.get(schema.CONFIG_PARAM), str) else {}
    if str(row["task"]) != str(record["task"]) or str(row["fwd"]) != str(record["method"]):
        return False
    theirs = record["config"]
    if _backward(row["fwd"], row.get("bwd")) != _backward(record["method"], theirs.get("bwd")):
        return False
    from trainables import task

    t = task(str(row["task"]))
    defaults = {"placement": t.placement, **t.training}  # what a config leaves out: its task's sweep training
    mine = {**defaults, **cfg, "batch_size": int(row["batch_size"])}
    theirs = {**defaults, **theirs}
    return all(str(mine.get(k)) == str(theirs.get(k)) for k in MATCH)


def _backward(fwd: str, bwd) -> str:
    """The backward a (fwd, bwd) pair runs: bwd, or the forward's default backward."""
    from compression import build, parse_spec

    if isinstance(bwd, str) and bwd and bwd != "nan":
        return str(parse_spec(bwd))
    return str(parse_spec(build(parse_spec(fwd)).default_backward()))


def add_measured(summary: pd.DataFrame, records: list[dict], links: list) -> tuple[pd.DataFrame, str]:
    """The measured step and time to target per link where a record matches; a note saying
    which rows show what."""
    out = summary.copy()
    labels = [lk.label for lk in links]
    for lab in labels:
        out[cols.STEP_MEASURED.name(lab)], out[cols.TTA_MEASURED.name(lab)] = math.nan, math.nan
    shown = 0
    for i, row in out.iterrows():
        steps = {r["link"]: float(r["measured_s"]) for r in records if _same_setting(r, row)}  # the last record wins
        for lab in labels:
            if lab in steps:
                out.loc[i, cols.STEP_MEASURED.name(lab)] = steps[lab]
                out.loc[i, cols.TTA_MEASURED.name(lab)] = row.get(cols.STEPS.key, math.nan) * steps[lab]
                shown += 1
    if not records:
        return out, ""
    how = {
        f"{r.get('schedule', 'serial')}, M={r.get('microbatches', 1)}, {r['config'].get('placement') or 'default cuts'}"
        for r in records
    }
    when = sorted({str(r.get("date", "")) for r in records})
    note = (f"tta_measured_<link> (time to target at a measured steady step: link-check, {'; '.join(sorted(how))}, "
            f"{', '.join(w for w in when if w)}) for {shown} (row, link) pairs; tta_s_<link> is the estimate, "
            "shown for every row")  # fmt: skip
    return out, note


def _label(row) -> str:
    """A row's forward, and its backward where it is not the forward's default."""
    bwd = row.get("bwd")
    named = isinstance(bwd, str) and bwd not in ("", "nan")
    named = named and _backward(row["fwd"], bwd) != _backward(row["fwd"], None)
    return str(row["fwd"]) + (f"{BWD_SEP}{bwd}" if named else "")


def tta_ratios(summary: pd.DataFrame, links: list, vs: str = "none") -> list[dict]:
    """Per baseline (task, placement, setting) and link: the compressed row soonest to the
    target at its measured step, over its own baseline's time at the baseline's measured step,
    beside the same two rows' ratio from the estimate (tta_s). Rows without a measured step or a
    reached target are left out."""
    from .stats import SETTING_LABEL, baseline_of

    out = []
    for lk in links:
        tm, te = cols.TTA_MEASURED.name(lk.label), cols.TTA_S.name(lk.label)
        if tm not in summary:
            continue
        groups: dict = {}
        for _, row in summary[(summary["fwd"] != vs) & summary[tm].notna()].iterrows():
            base = baseline_of(summary, row, vs)
            if base is not None and not math.isnan(base[tm]):
                groups.setdefault(base.name, (base, []))[1].append(row)
        for base, rows in groups.values():
            best = min(rows, key=lambda r: r[tm])
            out.append({"task": best["task"], "placement": best["placement"], "setting": best.get(SETTING_LABEL) or "",
                        "link": lk.label, "best": _label(best), "steps_to_target": best[cols.STEPS.key],
                        "baseline_steps": base[cols.STEPS.key], "tta_measured_s": best[tm],
                        "baseline_tta_measured_s": base[tm], "measured_ratio": best[tm] / base[tm],
                        "estimated_ratio": best[te] / base[te]})  # fmt: skip
    return out
