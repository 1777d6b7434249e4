"""What a run's boundaries measured, as metrics: bytes per sample, compression time, ratio, SNR,
the fraction that crossed compressed, their run averages, and the run's facts."""

from __future__ import annotations

import schema
from compression import Boundary
from compression.boundary import snr_from_energy
from schema import FACT_BATCH_SIZE, FACT_CUTS, FACT_METRIC


def boundary_metrics(
    boundaries: list[Boundary], samples: int, steps: int, timed_steps: int | None = None, untimed_seconds: float = 0.0
) -> dict[str, float]:
    """Per-sample bytes, per-batch compression seconds, ratio, SNR over every call of every
    boundary (from summed energies), and the per-example buffers of stateful methods.
    Seconds spent in ``untimed_seconds`` (warm-up batches) are left out of compress_time."""
    st = [b.stats for b in boundaries]
    fwd = sum(s["sent_bytes_fwd"] for s in st)
    bwd = sum(s["sent_bytes_bwd"] for s in st)
    fp32 = sum(s["raw_bytes_fwd"] + s["raw_bytes_bwd"] for s in st)
    secs = sum(s["seconds_fwd"] + s["seconds_bwd"] for s in st) - untimed_seconds
    timed = steps if timed_steps is None else timed_steps
    return {
        schema.COMPRESS_TIME: secs / max(timed, 1),
        schema.BYTES_FWD: fwd / max(samples, 1),
        schema.BYTES_BWD: bwd / max(samples, 1),
        schema.RATIO: (fwd + bwd) / fp32 if fp32 else 1.0,
        schema.SNR_FWD_DB: snr_from_energy(_total(st, "signal_fwd"), _total(st, "error_fwd")),
        schema.SNR_BWD_DB: snr_from_energy(_total(st, "signal_bwd"), _total(st, "error_bwd")),
        schema.BUFFER_MB: sum(s["buffer_bytes"] for s in st) / 2**20,
        schema.COMPRESSED_FWD: _compressed(st, "fwd"),
        schema.COMPRESSED_BWD: _compressed(st, "bwd"),
    }


def _compressed(stats: list[dict], direction: str) -> float:
    """The fraction of a direction's training values, over every boundary, that crossed compressed."""
    n = sum(s[f"train_values_{direction}"] for s in stats)
    return 1.0 - sum(s[f"exact_values_{direction}"] for s in stats) / n if n else 1.0


def _total(stats: list[dict], key: str) -> float:
    """An energy summed over boundaries: the one read of the device accumulators per epoch."""
    return float(sum(float(s[key]) for s in stats))


RUN_AVERAGES = (
    (schema.BYTES_FWD, schema.BYTES_FWD_RUN),
    (schema.BYTES_BWD, schema.BYTES_BWD_RUN),
    (schema.COMPRESSED_FWD, schema.COMPRESSED_FWD_RUN),
    (schema.COMPRESSED_BWD, schema.COMPRESSED_BWD_RUN),
)


def run_bytes(metrics: dict, last: dict, epoch: int) -> dict:
    """Bytes per sample and compressed fractions averaged over epochs 1..epoch (every epoch
    trains as many samples)."""
    out = {}
    for k, run in RUN_AVERAGES:
        before = last.get(run, metrics[k]) if epoch > 1 else 0.0
        out[run] = (before * (epoch - 1) + metrics[k]) / epoch
    return out


def run_facts(cfg: dict, task, boundaries: list[Boundary], runtime) -> dict:
    """What reports need from a run and must not rebuild later from today's defaults, and
    where it ran (the runtime's device, host, CPU, torch)."""
    facts = {FACT_BATCH_SIZE: int(cfg["batch_size"]), FACT_CUTS: len(boundaries), FACT_METRIC: task.metric}
    return {**facts, **runtime.facts()}
