"""Fashion-MNIST (Debian's dataset-fashion-mnist, or --root with the idx files), 28x28 padded
to 32x32 and repeated to 3 channels: the embedded CV default."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..common import ConfigError
from . import CV_RECIPE, Task

DIR = "/usr/share/datasets/fashion-mnist"
# what sweeps train a CV task with unless a space says otherwise (CIFAR-10 shares it): one pass
# over 6000 images upsampled to 64 px. The `none` baseline over 5 seeds: 85.5 ± 0.7 in about 75 s
# a trial here, where 4000 images at 32 px for 3 epochs gave 83.9 ± 0.7 in about 97 s (issue 20;
# docs/results, the CV recipe section, has the search).
TRAINING = {
    "model": "efficientnet_lite0",
    "recipe": CV_RECIPE,
    "image_size": 64,
    "epochs": 1,
    "limit_train": 6000,
    "limit_val": 1000,
}


def _idx_file(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load(root: str | None, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N, 32, 32, 3] (28x28 padded by 2, grey repeated to 3 channels) and labels."""
    d = Path(root or DIR)
    name = "train" if split == "train" else "t10k"
    img, lab = d / f"{name}-images-idx3-ubyte.gz", d / f"{name}-labels-idx1-ubyte.gz"
    for p in (img, lab):
        if not p.is_file():
            raise ConfigError(
                f"fashion_mnist: {p} not found; install Debian's dataset-fashion-mnist "
                f"(make setup does) or pass --root DIR holding the {name}-*-ubyte.gz files"
            )
    try:
        raw_x, raw_y = _idx_file(img, 16), _idx_file(lab, 8)
    except (OSError, EOFError, ValueError) as e:
        raise ConfigError(f"fashion_mnist: {d}: not readable idx-ubyte.gz files ({e})") from None
    if raw_x.size == 0 or raw_x.size % (28 * 28) or raw_x.size // (28 * 28) != raw_y.size or raw_y.max(initial=0) > 9:
        raise ConfigError(
            f"fashion_mnist: {img.name} holds {raw_x.size / 784:g} images of 28x28 and {lab.name} {raw_y.size} "
            "labels; they must match and labels be 0-9"
        )
    x = torch.from_numpy(raw_x.reshape(-1, 28, 28).copy())
    y = torch.from_numpy(raw_y.astype(np.int64))
    x = F.pad(x, (2, 2, 2, 2)).unsqueeze(-1).expand(-1, 32, 32, 3).contiguous()
    return x, y


TASK = Task(
    name="fashion_mnist",
    family="cv",
    load=load,
    num_classes=10,
    data=f"{DIR} (or --root DIR with {{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte.gz)",
    majority=0.1,
    model="mobilenet_v2",
    training=TRAINING,
)
