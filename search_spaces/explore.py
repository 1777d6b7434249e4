"""Optuna over method, bits, split bits, placement and prune ratio (b + s <= 16 enforced)."""

from __future__ import annotations

from . import Space

PLACEMENTS = ["first:1", "last:1", "first:1,last:1", "first:2,last:2", "last:2"]


def sample(trial) -> dict:
    """Define-by-run: the constraints are built into what is asked, so no sample is invalid."""
    method = trial.suggest_categorical("method", ["uniform", "sortquant", "topk", "kmeans"])
    placement = trial.suggest_categorical("placement", PLACEMENTS)
    if method == "uniform":
        fwd = f"uniform:b={trial.suggest_int('bits', 2, 16)}"
    elif method == "sortquant":
        bits = trial.suggest_int("bits", 2, 16)
        split = trial.suggest_int("split_bits", 0, min(8, bits - 1))
        fwd = f"sortquant:b={bits - split},s={split}"
    elif method == "topk":
        fwd = f"topk:r={round(trial.suggest_float('ratio', 0.02, 1.0, log=True), 3)}"
    else:
        bits = trial.suggest_int("bits", 1, 8)
        fwd = f"kmeans:b={bits},iters={trial.suggest_categorical('iters', [5, 20, 50])}"
    return {"fwd": fwd, "placement": placement}


SPACE = Space(
    name="explore",
    description="Optuna (TPE) over method, bits, split bits, placement, prune ratio; one seed, "
    "then `rerun` adds seeds to the best",
    default_task="fashion_mnist",
    sample=sample,
    training={"model": "efficientnet_lite0", "epochs": 2, "limit_train": 2000, "limit_val": 1000},
)
