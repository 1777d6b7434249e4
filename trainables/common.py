"""What the CV and NLP fine-tunes share: seeding, the epoch loop's measurements, checkpoints."""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

import schema
from compression import Boundary, uncompressed
from compression.base import Lazy
from compression.boundary import snr_from_energy
from schema import CLEAN, CURVE, EPOCH, FACT_BATCH_SIZE, FACT_CUTS, FACT_METRIC

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
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        state = (random.getstate(), np.random.get_state())
        forward()
        random.setstate(state[0])
        np.random.set_state(state[1])
    model.train(was_training)
    for b in boundaries:
        b.reset_stats()
    return [p for b in learned for p in b.parameters()]


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def fixed_subset(n: int, limit: int | None) -> torch.Tensor:
    """The same subset whatever the trial's seed (seed 0), so that seeds vary init and order."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return order if not limit or limit >= n else order[:limit]


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


def compile_events() -> int:
    """Frames torch.compile has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["frames"]["total"])


def _stats_seconds(boundaries: list[Boundary]) -> float:
    return sum(b.stats["seconds_stats"] for b in boundaries)


def _compress_seconds(boundaries: list[Boundary]) -> float:
    return sum(b.stats["seconds_fwd"] + b.stats["seconds_bwd"] for b in boundaries)


def train_step(
    loss_fn, inputs, labels, ids, optimizer, scheduler, boundaries: list[Boundary], step: int = 0, scaler=None
) -> float:
    """One training step, the one definition of it (the step benchmark drives it too): the
    batch's example ids to the boundaries, forward, backward, optimizer (and scheduler) step;
    with fp16's gradient scaler, the scaled backward and the scaler's step. Returns the loss; a
    non-finite loss raises FloatingPointError (the run diverged)."""
    for b in boundaries:
        b.set_batch_ids(ids)
    loss = loss_fn(inputs, labels)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"training loss is {value} at step {step}: diverged")
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    if scheduler is not None:
        scheduler.step()
    return value


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


def run_facts(cfg: dict, task, boundaries: list[Boundary], runtime) -> dict:
    """What reports need from a run and must not rebuild later from today's defaults, and
    where it ran (the runtime's device, host, CPU, torch)."""
    facts = {FACT_BATCH_SIZE: int(cfg["batch_size"]), FACT_CUTS: len(boundaries), FACT_METRIC: task.metric}
    return {**facts, **runtime.facts()}


def train_epoch(
    model: torch.nn.Module,
    batches: Iterable[tuple[Any, torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler,
    boundaries: list[Boundary],
    progress=None,
    warmup_steps: int = 0,
    runtime=None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """One epoch over (inputs, labels, example ids) batches. step_time counts forward, backward
    and optimizer step (no data loading, and not the boundaries' SNR bookkeeping, which a real
    link would not do). The first ``warmup_steps`` batches and any step in which torch.compile
    compiled (a new spec or shape) are trained on and counted in bytes and SNR, but left out of
    the times, so a row's time does not depend on what the process ran before. On a GPU a step
    is timed between two synchronizes, so it is the step's kernels on both devices. ``on_step``
    is called with the epoch's step count after each step, outside the timed region."""
    model.train()
    for b in boundaries:
        b.reset_stats()
    compiled_before = sum(k.calls_compiled for k in Lazy.instances)
    total_loss, steps, samples, compute, untimed = 0.0, 0, 0, 0.0, 0.0
    bookkeeping, untimed_steps, every = 0.0, 0, 0.0
    sync = runtime.sync if runtime is not None else (lambda: None)
    scaler = runtime.scaler if runtime is not None else None
    for inputs, labels, ids in batches:
        sync()
        t0 = time.perf_counter()
        s0, c0, k0 = _stats_seconds(boundaries), _compress_seconds(boundaries), compile_events()
        value = train_step(loss_fn, inputs, labels, ids, optimizer, scheduler, boundaries, steps, scaler)
        sync()
        took = time.perf_counter() - t0
        every += took - (_stats_seconds(boundaries) - s0)
        total_loss += value
        steps += 1
        samples += len(labels)
        if steps <= warmup_steps or compile_events() > k0:  # a warm-up or compiling step: not timed
            untimed += _compress_seconds(boundaries) - c0
            untimed_steps += 1
        else:
            compute += took
            bookkeeping += _stats_seconds(boundaries) - s0
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{total_loss / steps:.4f}")
        if on_step is not None:
            on_step(steps)
    timed = steps - untimed_steps
    step_time = (compute - bookkeeping) / max(timed, 1)
    if timed == 0:  # nothing but warm-up: time every step rather than none
        timed, untimed, step_time = steps, 0.0, every / max(steps, 1)
    out = {schema.TRAIN_LOSS: total_loss / max(steps, 1), schema.STEP_TIME: step_time}
    out.update(boundary_metrics(boundaries, samples, steps, timed, untimed))
    out[schema.COMPILED] = float(sum(k.calls_compiled for k in Lazy.instances) > compiled_before)
    return out


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
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with unmetered(boundaries), torch.random.fork_rng(devices=devices):
            state = (random.getstate(), np.random.get_state())
            add_point(curve, offset + step, evaluate())
            random.setstate(state[0])
            np.random.set_state(state[1])
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


def checkpoint(epoch: int, metrics: dict, model, boundaries, optimizer, scheduler, gen, runtime) -> dict:
    """Everything an interrupted trial needs to go on after ``epoch`` as if uninterrupted."""
    return {
        "model": model.state_dict(),
        "boundaries": [b.state_dict() for b in boundaries],  # AQ-SGD buffers
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(gen),
        "scaler": runtime.scaler.state_dict() if runtime is not None and runtime.scaler else None,
        EPOCH: epoch,
        "metrics": metrics,
    }


def restore(saved: dict, model, boundaries, optimizer, scheduler, gen, runtime) -> tuple[int, dict]:
    """A checkpoint back in place; returns the epoch to start from and the last metrics."""
    model.load_state_dict(saved["model"])
    for b, state in zip(boundaries, saved.get("boundaries", []), strict=False):
        b.load_state_dict(state)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_state(gen, saved["rng"])
    if runtime is not None and runtime.scaler is not None and saved.get("scaler"):
        runtime.scaler.load_state_dict(saved["scaler"])
    return saved[EPOCH] + 1, saved["metrics"]


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


def rng_state(gen: torch.Generator) -> dict:
    return {
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "torch": torch.get_rng_state(),
        "data": gen.get_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen.set_state(state["data"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
