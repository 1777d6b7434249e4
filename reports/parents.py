"""A config's parent run: the seed statistics of its children where users browse runs.

In the MLflow UI each config is one parent run (its seeds' runs nested under it), and the
parent's metrics are what a report computes from the finished children: the metric's mean,
sample std, N (distinct seeds) and the paired Δ to the same placement's baseline with its 95%
CI. ``by_config`` computes them; the CLI hands them to ``tuning.summary.write_parents`` after every
trial and rerun (reports compute, tuning writes)."""

from __future__ import annotations

import math

import schema

from . import columns as cols


def parent_metrics(row, metric: str) -> dict[str, float]:
    """A summary row as a parent's metrics (NaN left out: one seed has no std, no CI)."""
    values = {
        schema.seed_stat("mean", metric): row[cols.mean(metric)],
        schema.seed_stat("std", metric): row[cols.std(metric)],
        schema.N_SEEDS: row["n"],
        schema.seed_stat("delta", metric): row[cols.DELTA.key],
        schema.seed_stat(cols.DELTA_LOW.key, metric): row[cols.DELTA_LOW.key],
        schema.seed_stat(cols.DELTA_HIGH.key, metric): row[cols.DELTA_HIGH.key],
    }
    return {k: float(v) for k, v in values.items() if v is not None and not math.isnan(float(v))}


def by_config(summary, metric: str) -> dict[str, dict[str, float]]:
    """config_id -> its parent's metrics, for every row of a report's summary."""
    return {str(row[schema.TAG_CONFIG_ID]): parent_metrics(row, metric) for _, row in summary.iterrows()}
