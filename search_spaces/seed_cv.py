"""The study's MobileNetV2 / CIFAR-10 tables: one row per setting, at its cut
(``first:1,last:1``: after the first block and before the classifier head)."""

from __future__ import annotations

from . import Space

P = "first:1,last:1"
# (spec, the study's published top-1 accuracy on CIFAR-10 with MobileNetV2, 224 px)
ROWS = [
    ("none", "96.1% (94.21% in the 10-epoch k-means table)"),
    ("uniform:b=16", "96.0%"),
    ("uniform:b=12", "95.4%"),
    ("uniform:b=11", "91% / 10% (two runs)"),
    ("uniform:b=10", "68%"),
    ("uniform:b=9", "68%"),
    ("uniform:b=4", "89.42% (10 epochs, cut [16,24,56,56])"),
    ("topk:r=0.5", "96.1%"),
    ("topk:r=0.2", "95.2%"),
    ("sortquant:b=6,s=2", "95.6% / 95.7%"),
    ("sortquant:b=9,s=3", "95.9%"),
    ("sortquant:b=12,s=4", "96.1%"),
    ("sortquant:b=2,s=2", "95.3% / 93.38% (10 epochs)"),
    ("kmeans:b=4,iters=20", "93.01% (10 epochs)"),
    ("kmeans:b=4,iters=50", "93.17% (10 epochs)"),
]

SPACE = Space(
    name="seed-cv",
    description="the study's CV rows: none, uniform 16/12/11/10/9/4, top-k 0.5/0.2, "
    "sort-quant 6+2/9+3/12+4/2+2, k-means 4 bits 20/50 iters; cut first:1,last:1",
    default_task="fashion_mnist",
    rows=[{"fwd": spec, "placement": P} for spec, _ in ROWS],
    training={"model": "efficientnet_lite0", "epochs": 3, "limit_train": 6000, "limit_val": 2000},
    published={(P, spec): value for spec, value in ROWS},
)
