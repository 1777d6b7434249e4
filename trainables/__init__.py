"""The fine-tunes a sweep trial runs: plain ``train(config, report)`` functions, no Ray."""

from __future__ import annotations

from collections.abc import Callable

from .common import METRIC_KEYS, ConfigError, StateIO

CV_TASKS = ("cifar10", "fashion_mnist")
NLP_TASKS = ("cola", "rte", "rotten_tomatoes")
TASKS = CV_TASKS + NLP_TASKS
# the study's cuts: CV after the first block and before the head; NLP after the first encoder
# layer and before the last one
CV_PLACEMENT, NLP_PLACEMENT = "first:1,last:1", "first:1,last:2"


def default_placement(task: str | None) -> str:
    return NLP_PLACEMENT if task in NLP_TASKS else CV_PLACEMENT


def train(config: dict, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict:
    """Dispatch on ``config["task"]`` to the CV or NLP fine-tune."""
    task = config.get("task")
    if task in CV_TASKS:
        from . import cv

        return cv.train(config, report, state_io)
    if task in NLP_TASKS:
        from . import nlp

        return nlp.train(config, report, state_io)
    raise ConfigError(f"task={task!r}: must be one of {', '.join(TASKS)}")


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
    "CV_PLACEMENT",
    "CV_TASKS",
    "METRIC_KEYS",
    "NLP_PLACEMENT",
    "NLP_TASKS",
    "TASKS",
    "ConfigError",
    "default_placement",
    "seed_flags_to_spec",
    "train",
]
