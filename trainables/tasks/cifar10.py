"""CIFAR-10 from the official ``cifar-10-batches-py`` folder under --root (torchvision's
reader, which checks the files' MD5s): the study's CV task."""

from __future__ import annotations

from pathlib import Path

import torch

from ..common import ConfigError
from . import Task
from .fashion_mnist import TRAINING


def load(root: str | None, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import CIFAR10

    if not root or not (Path(root) / "cifar-10-batches-py").is_dir():
        raise ConfigError(
            f"cifar10: --root {root!r} must hold the official cifar-10-batches-py/ folder "
            "(data_batch_1..5, test_batch, batches.meta)"
        )
    try:
        ds = CIFAR10(root, train=split == "train", download=False)
    except RuntimeError as e:
        raise ConfigError(
            f"cifar10: {root}/cifar-10-batches-py failed torchvision's MD5 check ({e}); the "
            "files must be the official, unmodified python-version batches"
        ) from None
    return torch.from_numpy(ds.data), torch.tensor(ds.targets, dtype=torch.int64)


TASK = Task(
    name="cifar10",
    family="cv",
    load=load,
    num_classes=10,
    data="--root DIR holding the official cifar-10-batches-py/",
    majority=0.1,
    model="mobilenet_v2",
    training=TRAINING,
)
