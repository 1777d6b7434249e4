"""Optuna over method, bits, split bits, placement, prune ratio, and (uniform, AQ-SGD delta)
range, rounding and clipping; the newer families' parameters (fp8 format and scale, Hadamard
tile bits, tile and rotation, low-rank and bottleneck rank, the code's bits); b + s <= 16 is built
into what is asked."""

from __future__ import annotations

from trainables.tasks import CV_RECIPE

from . import Space

PLACEMENTS = ["first:1", "last:1", "first:1,last:1", "first:2,last:2", "last:2"]


def sample(trial) -> dict:
    """Define-by-run: the constraints are built into what is asked, so no sample is invalid."""
    method = trial.suggest_categorical(
        "method", ["uniform", "sortquant", "topk", "kmeans", "delta", "fp8", "hadamard", "lowrank", "bottleneck"]
    )
    placement = trial.suggest_categorical("placement", PLACEMENTS)
    row: dict = {"placement": placement}
    if method in ("uniform", "delta"):
        bits = trial.suggest_int("bits", 2, 16)
        rng = trial.suggest_categorical("range", ["minmax", "absmax"])
        rnd = trial.suggest_categorical("round", ["nearest", "stochastic"])
        fwd = f"{method}:b={bits},range={rng},round={rnd}"
        if method == "uniform":
            clip = trial.suggest_categorical("clip", [100.0, 99.99, 99.9])
            fwd += f",clip={clip}" if clip < 100 else ""
        else:  # AQ-SGD sends the gradient directly: an unbiased backward of its own bits
            row["bwd"] = f"uniform:b={trial.suggest_int('bwd_bits', 4, 8)},range=absmax,round=stochastic"
    elif method == "sortquant":
        bits = trial.suggest_int("bits", 2, 16)
        split = trial.suggest_int("split_bits", 0, min(8, bits - 1))
        fwd = f"sortquant:b={bits - split},s={split}"
    elif method == "fp8":
        fwd = f"fp8:fmt={trial.suggest_categorical('fmt', ['e4m3', 'e5m2'])},"
        fwd += f"scale={trial.suggest_categorical('scale', ['tensor', 'block128'])}"
    elif method == "hadamard":
        bits, tile = trial.suggest_int("tile_bits", 2, 8), trial.suggest_categorical("tile", [16, 32, 64])
        fwd = f"hadamard:b={bits},tile={tile},rotate={trial.suggest_categorical('rotate', ['outlier', 'all'])}"
    elif method == "lowrank":
        fwd = f"lowrank:r={trial.suggest_int('rank', 1, 64, log=True)}"
    elif method == "bottleneck":
        rank, code_bits = trial.suggest_int("rank", 1, 64, log=True), trial.suggest_categorical("code_bits", [4, 8, 32])
        fwd = f"bottleneck:r={rank},b={code_bits}"
    elif method == "topk":
        fwd = f"topk:r={round(trial.suggest_float('keep_ratio', 0.02, 1.0, log=True), 3)}"
    else:
        bits = trial.suggest_int("bits", 1, 8)
        fwd = f"kmeans:b={bits},iters={trial.suggest_categorical('iters', [5, 20, 50])}"
    row["fwd"] = fwd
    return row


SPACE = Space(
    name="explore",
    description="Optuna (TPE) over method, bits, split bits, placement, prune ratio; one seed, "
    "then `rerun` adds seeds to the best",
    default_task="fashion_mnist",
    sample=sample,
    training={"model": "efficientnet_lite0", "recipe": CV_RECIPE, "epochs": 2, "limit_train": 2000, "limit_val": 1000},
)
