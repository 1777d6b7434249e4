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

    if root and (Path(root) / "data_batch_1").is_file() and Path(root).name == "cifar-10-batches-py":
        raise ConfigError(
            f"cifar10: --root {root!r} is the cifar-10-batches-py folder itself; pass the folder that holds it "
            f"(--root {Path(root).parent})"
        )
    if not root or not (Path(root) / "cifar-10-batches-py").is_dir():
        raise ConfigError(
            f"cifar10: --root {root!r} must hold the official cifar-10-batches-py/ folder "
            "(data_batch_1..5, test_batch, batches.meta)"
        )
    try:
        ds = CIFAR10(root, train=split == "train", download=False)
    except RuntimeError:  # torchvision's message offers download=True, which compsweep never does
        raise ConfigError(
            f"cifar10: {root}/cifar-10-batches-py fails torchvision's MD5 check (a batch file is missing, "
            "truncated or not the official one); unpack the official cifar-10-python.tar.gz there again"
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
