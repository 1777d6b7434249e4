"""The validation curve: when a run evaluates, each evaluation a point, taken without counting
its traffic or moving any random stream; and the last epoch evaluated with every boundary off."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import schema
from compression import Boundary, uncompressed
from schema import CLEAN

from .state import untouched_rng

EVALS = 8  # a run evaluates about this many times, evenly, unless eval_every says otherwise


def eval_points(total_steps: int, every: int | None = None) -> set[int]:
    """Global steps after which a run evaluates: every ``every`` steps, or EVALS times evenly;
    the last step always (epoch ends are evaluated besides)."""
    if every:
        return set(range(int(every), total_steps + 1, int(every))) | {total_steps}
    return {max(1, round(total_steps * i / EVALS)) for i in range(1, EVALS + 1)}


def add_point(curve: dict, step: int, scores: dict) -> None:
    """One evaluation into the curve: the global step and the validation scores it gave."""
    if curve.get("step") and curve["step"][-1] == step:
        return
    curve.setdefault("step", []).append(int(step))
    for k in schema.ACCURACY:
        if k in scores and k != schema.VAL_MAJORITY:
            curve.setdefault(k, []).append(float(scores[k]))


def _evaluator(model, evaluate, boundaries, curve: dict, points: set[int], offset: int, steps_per_epoch: int):
    """on_step for one epoch: at a point of the curve inside the epoch, evaluate without
    counting the evaluation's traffic, leaving every random stream as it was (so the training
    is the same whatever the points), and go back to training."""

    def on_step(step: int) -> None:
        if offset + step not in points or step == steps_per_epoch:  # the epoch's end: evaluated anyway
            return
        with unmetered(boundaries), untouched_rng():
            add_point(curve, offset + step, evaluate())
        model.train()

    return on_step


@contextlib.contextmanager
def unmetered(boundaries: list[Boundary]):
    """Traffic through the boundaries inside the block is not counted (a mid-epoch evaluation)."""
    saved = [dict(b.stats) for b in boundaries]
    try:
        yield
    finally:
        for b, st in zip(boundaries, saved, strict=True):
            b.stats = st


def evaluate_clean(evaluate: Callable[[], dict[str, float]], boundaries: list[Boundary], metrics: dict) -> dict:
    """val_acc_clean (val_mcc_clean): the trained model evaluated with every boundary off. A
    compressor changes what training sees and, through the same boundaries, what evaluation
    sees; this separates the two (AQ-SGD, for one, has no state for validation examples and
    evaluates through its direct quantizer). Without compression it is the same evaluation."""
    if all(b.fwd_spec.method == "none" for b in boundaries):
        clean = metrics
    else:
        with uncompressed(boundaries):
            clean = evaluate()
    return {CLEAN[k]: clean[k] for k in CLEAN if k in clean}
