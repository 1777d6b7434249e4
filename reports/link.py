"""Bytes become time: the estimated time of one training batch at a link, and the frontier.

    est_batch_s = step_time + (bytes_fwd + bytes_bwd) x batch_size x 8 / bandwidth
                  + 2 x latency x cuts

step_time is the measured compute of one batch (forward, backward, optimizer step) with the
compressors' own work in it; bytes are the exact payloads per sample over all cuts; each cut
is crossed once forward and once backward per batch, each crossing paying the latency once.
The model adds transfer to compute (no overlap, no pipelining of micro-batches) and ignores
protocol overhead, so it is an upper bound on what a pipelined system would see.
``speedup_<link>`` is the ``none`` row's estimate (same experiment, task and placement) over
this row's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

import schema

from .stats import baseline_of

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


def estimate(row, link: Link) -> float:
    wire = (row[schema.BYTES_FWD] + row[schema.BYTES_BWD]) * row["batch_size"] * 8 / link.bits_per_s
    return float(row[schema.STEP_TIME] + wire + 2 * link.latency_s * row["cuts"])


def add_link_columns(summary: pd.DataFrame, links: list[Link]) -> pd.DataFrame:
    out = summary.copy()
    for link in links:
        est, speed = f"est_batch_s_{link.label}", f"speedup_{link.label}"
        out[est] = [estimate(r, link) for _, r in out.iterrows()] if not out.empty else []
        out[speed] = math.nan
        for i, row in out.iterrows():
            base = baseline_of(out, row)
            if base is not None and row[est] > 0:
                out.loc[i, speed] = float(base[est]) / row[est]
    return out


def add_pareto(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """pareto: no other config of the same task has a metric mean >= and bytes per sample <=,
    one of them strictly (metric max, bytes_fwd + bytes_bwd min)."""
    out = summary.copy()
    out["pareto"] = False
    for _, idx in out.groupby("task").groups.items():
        g = out.loc[idx]
        m = g[f"{metric}_mean"].to_numpy(dtype=float)
        b = (g[schema.BYTES_FWD] + g[schema.BYTES_BWD]).to_numpy(dtype=float)
        ok = np.isfinite(m) & np.isfinite(b)
        front = []
        for j in range(len(g)):
            if not ok[j]:
                front.append(False)
                continue
            dominated = ok & (m >= m[j]) & (b <= b[j]) & ((m > m[j]) | (b < b[j]))
            front.append(not bool(dominated.any()))
        out.loc[idx, "pareto"] = front
    return out
