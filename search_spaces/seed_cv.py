"""The study's MobileNetV2 / CIFAR-10 rows (search_spaces.study.CV_TABLES), at its cut
``first:1,last:1``: after the first block and before the classifier head. uniform 4 is the
k-means table's 4-bit row."""

from __future__ import annotations

from trainables.tasks.fashion_mnist import TRAINING

from . import Space
from .study import CV_TABLES, rows

SPACE = Space(
    name="seed-cv",
    description="the study's CV rows: none, uniform 16/12/11/10/9/4, top-k 0.5/0.2, "
    "sort-quant 6+2/2+2/9+3/12+4, k-means 4 bits 20/50 iters; cut first:1,last:1",
    default_task="fashion_mnist",
    rows=[{"fwd": spec, "placement": p} for p, spec in rows(CV_TABLES)],
    training=TRAINING,  # the CV default's (the legacy runs trained 6000/2000 images at 32 px for 3 epochs)
)
