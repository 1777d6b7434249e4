"""One training step and one timed epoch: the measurement every speed-up rests on (warm-up and
compiling steps trained on but left out of the times; the boundaries' bookkeeping never timed)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch

import schema
from compression import Boundary
from compression.base import Lazy

from .meter import boundary_metrics


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
