"""A handful of contrasting settings on the embedded CV default; 2 seeds in about 16 min here."""

from __future__ import annotations

from trainables.tasks.fashion_mnist import TRAINING

from . import Space

SPACE = Space(
    name="demo",
    description="none, uniform 8 and 2 bits, sort-quant 2+2, top-k 0.2, k-means 4 bits; "
    "EfficientNet-Lite0 (ImageNet) on Fashion-MNIST, small",
    default_task="fashion_mnist",
    rows=[
        {"fwd": s}  # the task's default cut
        for s in (
            "none",
            "uniform:b=8",
            "uniform:b=2",
            "sortquant:b=2,s=2",
            "topk:r=0.2",
            "kmeans:b=4,iters=20",
        )
    ],
    training=TRAINING,  # the results' CV setting
)
