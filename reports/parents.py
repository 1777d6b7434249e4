"""A config's parent run: the seed statistics of its children where users browse runs.

In the MLflow UI each config is one parent run (its seeds' runs nested under it), and the
parent's metrics are what a report computes from the finished children: the metric's mean,
sample std, N (distinct seeds) and the paired Δ to the same placement's baseline with its 95%
CI. ``update_parents`` rewrites them from the children after every trial and rerun."""

from __future__ import annotations

import math
import time

import schema
from schema.store import client, parents

from . import table


def parent_metrics(row, metric: str) -> dict[str, float]:
    """A summary row as a parent's metrics (NaN left out: one seed has no std, no CI)."""
    values = {
        schema.seed_stat("mean", metric): row[f"{metric}_mean"],
        schema.seed_stat("std", metric): row[f"{metric}_std"],
        schema.N_SEEDS: row["n"],
        schema.seed_stat("delta", metric): row["delta_mean"],
        schema.seed_stat("delta_ci_low", metric): row["delta_ci_low"],
        schema.seed_stat("delta_ci_high", metric): row["delta_ci_high"],
    }
    return {k: float(v) for k, v in values.items() if v is not None and not math.isnan(float(v))}


def update_parents(uri: str, name: str, metric: str) -> int:
    """Every parent of the experiment gets its children's statistics; returns how many."""
    from mlflow.entities import Metric

    ids = parents(uri, name)
    if not ids:
        return 0
    rep = table.report(uri, name, metric)
    c, ts, done = client(uri), int(time.time() * 1000), 0
    for _, row in rep.summary.iterrows():
        run_id = ids.get(row[schema.TAG_CONFIG_ID])
        if run_id is None:
            continue
        values = parent_metrics(row, metric)
        c.log_batch(run_id, metrics=[Metric(k, v, ts, 0) for k, v in values.items()])
        c.set_terminated(run_id, "FINISHED")
        done += 1
    return done
