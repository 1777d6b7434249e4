"""Seeding and the state an interrupted trial resumes from: model, boundaries, optimizer,
scheduler, every random stream (the trial's checkpoint)."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from schema import EPOCH


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


@contextlib.contextmanager
def untouched_rng():
    """Within: anything may draw random numbers (an evaluation, a sample forward); after, every
    stream (torch, CUDA, numpy, Python) is as it was, so training is the same whatever ran here."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        state = (random.getstate(), np.random.get_state())
        try:
            yield
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])
