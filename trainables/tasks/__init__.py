"""Tasks: one entry each, the one home of everything a task is.

A task module defines ``TASK = Task(...)``: its name, family (which fine-tune runs it: ``cv``
or ``nlp``), its loader (which is also its file validation: the pre-flight calls the same
function), the number of classes, the validation scores beyond accuracy and the metric a
report ranks by, the majority-class rate of its validation split, its default model and
cuts, and the training a sweep gives it. Adding a task is one module here plus its line in
``MODULES``; nothing else in the code branches on a task's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schema import VAL_ACC

from ..common import ConfigError

# the study's cuts: CV after the first block and before the head; NLP after the first encoder
# layer and before the last one
CV_PLACEMENT, NLP_PLACEMENT = "first:1,last:1", "first:1,last:2"
CV_RECIPE = "finetune"  # how sweeps train a CV task (trainables.cv.RECIPES holds what it is)
MODULES = ("cifar10", "fashion_mnist", "cola", "rte", "rotten_tomatoes", "sst2", "mrpc")


@dataclass(frozen=True)
class Task:
    name: str
    family: str  # "cv" (images: uint8 [N,H,W,3], labels) or "nlp" (texts a, texts b or None, labels)
    load: Callable[[str | None, str], Any]  # (root, "train" | "dev") -> the split; ConfigError if bad
    num_classes: int
    data: str  # where its files are, for help and errors
    metric: str = VAL_ACC  # what reports rank configs by
    scores: dict[str, Callable] = field(default_factory=dict)  # metric -> fn(y_true, y_pred), sklearn
    majority: float | None = None  # majority-class rate of the full validation split
    model: str | None = None  # CV: model name; NLP: None = the packaged MiniLM
    placement: str = CV_PLACEMENT
    training: dict = field(default_factory=dict)  # what sweeps train it with unless a space says otherwise
    data_metrics: Callable[[str | None], dict[str, float]] | None = None  # facts of its data, logged each epoch

    def check(self, root: str | None) -> None:
        """The loader on both splits: the pre-flight's file validation is the trainable's own."""
        for split in ("train", "dev"):
            self.load(root, split)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The validation metrics this task's runs log."""
        return (VAL_ACC, *self.scores)


def _registry() -> dict[str, Task]:
    out = {}
    for m in MODULES:
        task = importlib.import_module(f"{__name__}.{m}").TASK
        out[task.name] = task
    return out


_TASKS: dict[str, Task] | None = None


def all_tasks() -> dict[str, Task]:
    global _TASKS
    if _TASKS is None:
        _TASKS = _registry()
    return _TASKS


def names(family: str | None = None) -> tuple[str, ...]:
    return tuple(n for n, t in all_tasks().items() if family in (None, t.family))


def get(name: str | None) -> Task:
    """The task entry; ConfigError naming the allowed tasks."""
    tasks = all_tasks()
    if name not in tasks:
        raise ConfigError(f"task={name!r}: must be one of {', '.join(tasks)}")
    return tasks[name]


__all__ = ["CV_PLACEMENT", "CV_RECIPE", "NLP_PLACEMENT", "Task", "all_tasks", "get", "names"]
