"""The fine-tunes a sweep trial runs: plain ``train(config, report)`` functions, no Ray."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .common import METRIC_KEYS, ConfigError, Loop, StateIO


@runtime_checkable
class Family(Protocol):
    """What a fine-tune family module (``trainables.cv``, ``trainables.nlp``) provides: its
    defaults, the config resolved with them, the run's parts for the epoch loop, and the run."""

    DEFAULTS: dict

    def resolve(self, config: dict) -> dict: ...

    def loop(self, config: dict) -> Loop: ...

    def train(self, config: dict, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict: ...


def task(name: str | None):
    """The task entry (``trainables.tasks``); ConfigError naming the allowed tasks."""
    from . import tasks

    return tasks.get(name)


def task_names(family: str | None = None) -> tuple[str, ...]:
    from . import tasks

    return tasks.names(family)


def default_placement(name: str | None) -> str:
    return task(name).placement


def family(name: str | None) -> Family:
    """The fine-tune module that runs a task's family (``cv`` or ``nlp``)."""
    import importlib

    return importlib.import_module(f"{__name__}.{task(name).family}")


def train(config: dict, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict:
    """The fine-tune of ``config["task"]``'s family."""
    return family(config.get("task")).train(config, report, state_io)


def seed_flags_to_spec(
    quant: int | None = None,
    prune: float | None = None,
    kmeans: bool = False,
    multi: bool = False,
    split: int | None = None,
) -> str:
    """The published prototype's flags as a compressor spec (ConfigError when they clash)."""
    if prune is not None and (quant is not None or kmeans or multi):
        raise ConfigError("--prune cannot be combined with --quant/--kmeans/--multi: one method per cut")
    if prune is not None:
        return f"topk:r={prune}"
    if kmeans and multi:
        raise ConfigError("--kmeans and --multi/--sortquant are different methods: pick one")
    if (kmeans or multi) and quant is None:
        raise ConfigError("--kmeans and --multi/--sortquant need --quant B (total bits)")
    if split is not None and not multi:
        raise ConfigError("--split S only applies to sort quantization (--multi/--sortquant)")
    if kmeans:
        return f"kmeans:b={quant},iters=20"
    if multi:
        s = 2 if split is None else split
        if quant - s < 1:
            raise ConfigError(f"--quant {quant} --split {s}: sort quantization needs quant > split")
        return f"sortquant:b={quant - s},s={s}"
    if quant is not None:
        return f"uniform:b={quant}"
    return "none"


__all__ = [
    "METRIC_KEYS",
    "ConfigError",
    "Family",
    "default_placement",
    "family",
    "seed_flags_to_spec",
    "task",
    "task_names",
    "train",
]
