"""What the CV and NLP fine-tunes share: config resolution, the run's parts (``Loop``) and the epoch
loop (``fit``) that trains them; the step, the meters, the curve and the state are their own files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

import schema
from compression import Boundary
from schema import CLEAN, CURVE, EPOCH

from .curve import _evaluator, add_point, eval_points, evaluate_clean
from .epoch import train_epoch
from .meter import run_bytes
from .state import checkpoint, restore, untouched_rng

METRIC_KEYS = (  # what every task reports at its last epoch (a task adds its own scores)
    EPOCH,
    schema.TRAIN_LOSS,
    schema.VAL_ACC,
    CLEAN[schema.VAL_ACC],
    *schema.COST,
    schema.COMPILED,
)


class ConfigError(ValueError):
    """A config that cannot run (bad task, path, placement, spec): one line, exit 2."""


class StateIO(Protocol):
    """Where a trial keeps its per-epoch checkpoint (Ray Tune's, or none)."""

    def load(self) -> dict | None: ...

    def save(self, state: dict) -> None: ...


def materialize(model: torch.nn.Module, boundaries: list[Boundary], forward: Callable[[], Any]) -> list:
    """Boundaries with learned maps (a bottleneck) make them at their first forward: one forward of
    a sample, in eval mode, without gradients, counting nothing and leaving every random stream as
    it was, so they exist before the optimizer and a checkpoint's restore. Returns their
    parameters (for the optimizer); nothing is run when no boundary learns."""
    learned = [b for b in boundaries if b.learned]
    if not learned:
        return []
    was_training = model.training
    model.eval()
    with torch.no_grad(), untouched_rng():
        forward()
    model.train(was_training)
    for b in boundaries:
        b.reset_stats()
    return [p for b in learned for p in b.parameters()]


def fixed_subset(n: int, limit: int | None) -> torch.Tensor:
    """The same subset whatever the trial's seed (seed 0), so that seeds vary init and order."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return order if not limit or limit >= n else order[:limit]


def resolve_config(config: dict, defaults: dict, family: str, model_key: str) -> dict:
    """A family's config with its defaults and the task entry's (model, placement) filled in;
    ConfigError when the task is of another family."""
    from . import task

    t = task(config.get("task") or defaults["task"])
    if t.family != family:
        raise ConfigError(f"task={t.name!r}: a {t.family} task, not one of the {family} family")
    every = config.get("eval_every")
    if every is not None and (not isinstance(every, int) or isinstance(every, bool) or every < 1):
        raise ConfigError(f"eval_every={every!r}: steps between validations, a whole number of at least 1")
    base = {**defaults, model_key: t.model, "placement": t.placement}
    return {**base, **{k: v for k, v in config.items() if v is not None}}


@dataclass
class Loop:
    """Everything a family's fine-tune hands the epoch loop: the model and its boundaries, the
    batches (a callable giving one epoch of (inputs, labels, example ids)), the loss, the
    evaluation, the optimizer and scheduler, the data generator, the run's facts and runtime.
    ``fit`` trains it; a pipeline stage (``benchmarks.pipeline``) drives the same parts."""

    model: torch.nn.Module
    epochs: int
    steps_per_epoch: int
    batches: Callable[[], Iterable[tuple[Any, torch.Tensor, torch.Tensor]]]
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor]
    evaluate: Callable[[], dict[str, float]]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    boundaries: list[Boundary]
    gen: torch.Generator
    facts: dict
    runtime: Any = None
    eval_every: int | None = None
    progress: bool = False


def fit(loop: Loop, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict:
    """The epoch loop both fine-tunes share: resume from a checkpoint, train, evaluate (at
    every epoch's end and at ``eval_points``, into schema.CURVE), checkpoint, report (every
    epoch's metrics with the run's ``facts``: schema.FACTS); the boundaries are detached at
    the end."""
    from tqdm import tqdm

    from .placement import detach

    lp, runtime, steps_per_epoch = loop, loop.runtime, loop.steps_per_epoch
    parts = (lp.model, lp.boundaries, lp.optimizer, lp.scheduler, lp.gen, runtime)
    saved = state_io.load() if state_io else None
    start, metrics = restore(saved, *parts) if saved else (1, {})
    points = eval_points(lp.epochs * steps_per_epoch, lp.eval_every)
    curve = {k: list(v) for k, v in metrics.get(CURVE, {}).items()}
    for epoch in range(start, lp.epochs + 1):
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{lp.epochs}", disable=not lp.progress)
        last, metrics = metrics, {EPOCH: epoch, **lp.facts}
        warmup = 1 if epoch == start and steps_per_epoch > 1 else 0  # the first batch compiles
        if runtime is not None:
            runtime.reset_peak()
        offset = (epoch - 1) * steps_per_epoch
        on_step = _evaluator(lp.model, lp.evaluate, lp.boundaries, curve, points, offset, steps_per_epoch)
        epoch_args = (lp.optimizer, lp.scheduler, lp.boundaries, bar, warmup, runtime, on_step)
        metrics.update(train_epoch(lp.model, lp.batches(), lp.loss_fn, *epoch_args))
        metrics.update(run_bytes(metrics, last, epoch))
        metrics.update(lp.evaluate())
        add_point(curve, epoch * steps_per_epoch, metrics)
        metrics[CURVE] = {k: list(v) for k, v in curve.items()}
        if runtime is not None:
            metrics[schema.PEAK_MEM_MB] = runtime.peak_mem_mb()
        if epoch == lp.epochs:
            metrics.update(evaluate_clean(lp.evaluate, lp.boundaries, metrics))
        bar.close()
        if state_io:
            state_io.save(checkpoint(epoch, metrics, *parts))
        schema.check_reported(metrics)
        report(metrics)
    detach(lp.boundaries)
    return metrics


