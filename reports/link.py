"""Bytes become time: a cost model one slow seed cannot move, the estimated time of one
training batch at a link, and the frontier. ``FORMULA`` (below) is the model, the one place it
is written; the report's help and the results page print it from there.

bytes are the exact payloads per sample over all cuts averaged over the whole run (AQ-SGD's
first sightings included; runs stored before that was logged use their last epoch's, and the
report says so); each cut is crossed once forward and once backward per batch, each crossing
paying the latency once. est_batch_s adds transfer to compute (serial: an upper bound);
est_batch_s_overlap lets them overlap fully (pipelined: a lower bound). Neither counts
protocol overhead (``sweep.py link-check`` measures it). ``speedup_<link>`` is the ``none``
row's est_batch_s (same experiment, task and placement) over this row's; the row's own
measured ``step_time`` stays a column.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

import schema

from . import columns as cols
from . import schedule
from .stats import AT_FLOOR, baseline_of

FORMULA = """\
    compute_s   = median over every run of the same setting (task, model, batch, input size or
                  length, precision, device, machine) of step_time - compress_time
    compress_s  = median over the row's runs of compress_time
    wire_s      = (bytes_fwd_run + bytes_bwd_run) x batch_size x 8 / bandwidth
    est_batch_s          = compute_s + compress_s + wire_s + 2 x latency x cuts   (serial: an upper bound)
    est_batch_s_overlap  = max(compute_s + compress_s, wire_s) + 2 x latency x cuts   (overlapped: a lower bound)
    est_batch_s_1f1b     = the steady step of the 1F1B schedule played out (reports/schedule.py): S = cuts + 1
                  stages, one device each, stages balanced, M micro-batches a batch (report
                  --microbatches, default 4); a micro-batch's work on one stage is
                  (compute_s + compress_s) / (S x M), its backward twice its forward; a stage runs
                  its next forward or backward when it is free and the activation or gradient it
                  needs has arrived; each cut is two one-way links carrying one micro-batch's
                  forward (bytes_fwd_run) or backward (bytes_bwd_run) bytes, split evenly over the
                  cuts, at the link's rate, one message at a time, plus the latency. Between the
                  two bounds; where the link paces it, stage 0 waits for each gradient's round trip.
    speedup     = the same placement's `none` est_batch_s / this row's
    tta_s       = steps_to_target x est_batch_s; tta_speedup = the baseline's tta_s / this row's
"""

UNITS = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
_LINK = re.compile(r"^(\d+(?:\.\d+)?)(kbit|mbit|gbit)(?:\+(\d+(?:\.\d+)?)ms)?$")


class LinkError(ValueError):
    pass


@dataclass(frozen=True)
class Link:
    label: str  # as in the column names: 100mbit, 1gbit_20ms
    bits_per_s: float
    latency_s: float = 0.0


def parse_links(text: str) -> list[Link]:
    """'100mbit,1gbit+20ms' -> links; LinkError names a bad term and the allowed form."""
    out = []
    for term in [t.strip().lower() for t in str(text).split(",")]:
        m = _LINK.match(term)
        if not m or float(m.group(1)) <= 0:
            raise LinkError(
                f"--link {term!r}: use <number><kbit|mbit|gbit>[+<ms>ms], e.g. 100mbit, 1gbit, 100mbit+20ms"
            )
        label = f"{m.group(1)}{m.group(2)}" + (f"_{m.group(3)}ms" if m.group(3) else "")
        out.append(Link(label.replace(".", "p"), float(m.group(1)) * UNITS[m.group(2)], float(m.group(3) or 0) / 1e3))
    return out


MICROBATCHES = 4  # the report's micro-batches per batch for est_batch_s_1f1b
BWD_OVER_FWD = 2.0  # a micro-batch's backward work over its forward (the usual rule: two matmuls to one)
SETTING = ("model", "image_size", "max_length", "precision", "device")  # config keys; with task, batch, machine
COMPUTE_S, COMPRESS_S, BYTES_RUN = cols.COMPUTE_S.key, cols.COMPRESS_S.key, cols.BYTES_RUN.key
FWD_SHARE = cols.FWD_SHARE.key


def setting(run) -> tuple:
    """What a run's compute per step depends on: its task, batch size, model, input size or
    length, precision, device and machine (the host hash; "" = not recorded)."""
    cfg = json.loads(run[schema.CONFIG_PARAM]) if isinstance(run[schema.CONFIG_PARAM], str) else {}
    return (run["task"], int(run["batch_size"]), *(str(cfg.get(k, "")) for k in SETTING), str(run[schema.TAG_HOST]))


def add_costs(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """compute_s, compress_s, bytes_run (per sample, fwd + bwd, run-average) and the forward's
    share of those bytes, per config."""
    out = summary.copy()
    for c in (COMPUTE_S, COMPRESS_S, BYTES_RUN, FWD_SHARE):
        out[c] = math.nan
    if out.empty or runs.empty:
        return out
    d = runs.assign(_setting=[setting(r) for _, r in runs.iterrows()])
    d["_compute"] = d[schema.STEP_TIME] - d[schema.COMPRESS_TIME]
    d["_compute_s"] = d["_setting"].map(d.groupby("_setting")["_compute"].median())
    run_bytes = d[schema.BYTES_FWD_RUN] + d[schema.BYTES_BWD_RUN]
    d["_bytes"] = run_bytes.fillna(d[schema.BYTES_FWD] + d[schema.BYTES_BWD])  # stored before: last epoch's
    d["_fwd"] = d[schema.BYTES_FWD_RUN].fillna(d[schema.BYTES_FWD])
    g = d.groupby(["experiment", schema.TAG_CONFIG_ID])
    per = pd.DataFrame(
        {
            COMPUTE_S: g["_compute_s"].median(),
            COMPRESS_S: g[schema.COMPRESS_TIME].median(),
            BYTES_RUN: g["_bytes"].mean(),
            FWD_SHARE: g["_fwd"].mean() / g["_bytes"].mean().where(g["_bytes"].mean() > 0),
        }
    )
    key = list(zip(out["experiment"], out[schema.TAG_CONFIG_ID], strict=True))
    for c in per.columns:
        out[c] = [per[c].get(k, math.nan) for k in key]
    return out


def wire_time(nbytes: float, link: Link) -> float:
    """Seconds these bytes take at the link's rate."""
    return float(nbytes * 8 / link.bits_per_s)


def serial_s(busy_s: float, wire: float, link: Link, cuts: int) -> float:
    """Serial: the work (compute and compression), transfer and latency one after the other."""
    return float(busy_s + wire + 2 * link.latency_s * cuts)


def overlap_s(busy_s: float, wire: float, link: Link, cuts: int) -> float:
    """Pipelined: transfer hidden behind the work (or the reverse), latency paid still."""
    return float(max(busy_s, wire) + 2 * link.latency_s * cuts)


def pipeline_s(kind: str, fwd_s: list[float], bwd_s: list[float], opt_s: list[float], wire_fwd: list[float],
               wire_bwd: list[float], link: Link, m: int) -> float:  # fmt: skip
    """A micro-batched pipeline's steady step (GPipe or 1F1B), by playing its schedule
    (``reports.schedule.step_s``): ``fwd_s``, ``bwd_s`` one micro-batch's work on each stage,
    ``opt_s`` each stage's optimizer step, ``wire_fwd``, ``wire_bwd`` one micro-batch's bytes
    at each cut at the link's rate, one direction each; the latency per message."""
    return float(schedule.step_s(kind, fwd_s, bwd_s, opt_s, wire_fwd, wire_bwd, link.latency_s, m))


def pipeline_bounds(
    stage_s: list[float], wire_fwd: list[float], wire_bwd: list[float], link: Link, m: int
) -> tuple[float, float]:
    """The same pipeline's (serial, overlapped) bounds from each stage's work per micro-batch
    (``stage_s``, forward, backward and its share of the optimizer step): nothing overlaps
    (every micro-batch's work and bytes one after the other), and everything overlaps (M
    micro-batches at the pace of the busiest stage or link direction, the latency paid once)."""
    lat = 2 * link.latency_s * len(wire_fwd)
    serial = m * (sum(stage_s) + sum(wire_fwd) + sum(wire_bwd) + lat)
    return float(serial), float(m * max([*stage_s, *wire_fwd, *wire_bwd]) + lat)


def estimate_1f1b(row, link: Link, m: int = MICROBATCHES) -> float:
    """A report row's micro-batched estimate (FORMULA's est_batch_s_1f1b): 1F1B over balanced
    stages, a micro-batch's backward BWD_OVER_FWD times its forward."""
    cuts = int(row["cuts"])
    stages = cuts + 1
    share = row[FWD_SHARE] if not math.isnan(row[FWD_SHARE]) else 0.5
    per_cut = wire_s(row, link) / (m * cuts)
    c = (row[COMPUTE_S] + row[COMPRESS_S]) / (stages * m)
    f = c / (1 + BWD_OVER_FWD)
    return pipeline_s("1f1b", [f] * stages, [c - f] * stages, [0.0] * stages, [per_cut * share] * cuts,
                      [per_cut * (1 - share)] * cuts, link, m)  # fmt: skip


def wire_s(row, link: Link) -> float:
    return wire_time(row[BYTES_RUN] * row["batch_size"], link)


def estimate(row, link: Link) -> float:
    """A report row's serial estimate (FORMULA's est_batch_s)."""
    return serial_s(row[COMPUTE_S] + row[COMPRESS_S], wire_s(row, link), link, row["cuts"])


def estimate_overlap(row, link: Link) -> float:
    """A report row's pipelined estimate (FORMULA's est_batch_s_overlap)."""
    return overlap_s(row[COMPUTE_S] + row[COMPRESS_S], wire_s(row, link), link, row["cuts"])


def add_link_columns(
    summary: pd.DataFrame, links: list[Link], runs: pd.DataFrame | None = None, microbatches: int = MICROBATCHES
) -> pd.DataFrame:
    out = summary if COMPUTE_S in summary.columns else add_costs(summary, runs if runs is not None else pd.DataFrame())
    out = out.copy()
    for link in links:
        est, speed = cols.EST_BATCH.name(link.label), cols.SPEEDUP.name(link.label)
        out[est] = [estimate(r, link) for _, r in out.iterrows()] if not out.empty else []
        out[cols.EST_OVERLAP.name(link.label)] = [estimate_overlap(r, link) for _, r in out.iterrows()]
        out[cols.EST_1F1B.name(link.label)] = [estimate_1f1b(r, link, microbatches) for _, r in out.iterrows()]
        out[speed] = math.nan
        for i, row in out.iterrows():
            base = baseline_of(out, row)
            if base is not None and row[est] > 0:
                out.loc[i, speed] = float(base[est]) / row[est]
    return cols.set_links(out, [lk.label for lk in links])


def pareto_mask(cost: np.ndarray, metric: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """Rows no other eligible row beats on both (metric higher or equal, cost lower or equal,
    one strictly); rows not eligible are never on it."""
    ok = np.isfinite(cost) & np.isfinite(metric)
    if eligible is not None:
        ok &= eligible
    out = np.zeros(len(cost), dtype=bool)
    for j in np.flatnonzero(ok):
        dominated = ok & (metric >= metric[j]) & (cost <= cost[j]) & ((metric > metric[j]) | (cost < cost[j]))
        out[j] = not dominated.any()
    return out


def eligible(g: pd.DataFrame) -> np.ndarray:
    """Front candidates: rows not at the majority class, with at least two seeds where any row
    has two (a floor is not a trade-off; one seed is not a mean beside means). A one-seed
    exploration (Optuna) keeps its front."""
    floor = g[AT_FLOOR].to_numpy(dtype=bool) if AT_FLOOR in g else np.zeros(len(g), dtype=bool)
    n = g["n"].to_numpy()
    return ~floor & ((n >= 2) | (n.max(initial=0) < 2))


def wire_bytes(g: pd.DataFrame) -> np.ndarray:
    """Bytes per sample on the wire, fwd + bwd: the run average where the report has it."""
    return (g[BYTES_RUN] if BYTES_RUN in g else g[schema.BYTES_FWD] + g[schema.BYTES_BWD]).to_numpy(dtype=float)


def add_pareto(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """pareto: per task, the front of metric mean (max) against run-average bytes (min) over
    the eligible rows."""
    out = summary.copy()
    out["pareto"] = False
    for _, idx in out.groupby("task").groups.items():
        g = out.loc[idx]
        out.loc[idx, "pareto"] = pareto_mask(wire_bytes(g), g[cols.mean(metric)].to_numpy(dtype=float), eligible(g))
    return out
