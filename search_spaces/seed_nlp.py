"""The study's RoBERTa-base / GLUE rows: ``first:1,last:2`` (after the first encoder layer and
before the last), ``first:1`` (the first layer only) and ``last:2`` (the last two layers)."""

from __future__ import annotations

from . import Space

BOTH, FIRST, LAST = "first:1,last:2", "first:1", "last:2"
# (placement, spec, the study's published value: CoLA Matthews corr. / RTE accuracy)
ROWS = [
    (BOTH, "none", "CoLA 0.634±0.008 / RTE 78.4%±0.6"),
    (BOTH, "uniform:b=16", "CoLA 0.632±0.010 / RTE 78.7%±0.7"),
    (BOTH, "uniform:b=10", "CoLA 0.635±0.014 / RTE 78.3%±1.1"),
    (BOTH, "uniform:b=8", "CoLA 0.644±0.001 / RTE 77.5%±0.8"),
    (BOTH, "uniform:b=6", "-"),
    (BOTH, "uniform:b=4", "CoLA 0 (acc 69.1%) / RTE 52.2%±0.1"),
    (BOTH, "topk:r=0.5", "CoLA 0.633±0.013 / RTE 79.3%±0.7"),
    (BOTH, "topk:r=0.2", "-"),
    (BOTH, "sortquant:b=2,s=2", "RTE 52.2%"),
    (BOTH, "sortquant:b=3,s=3", "RTE 79.5%±0.5 (6 bits)"),
    (BOTH, "sortquant:b=6,s=2", "RTE 79.7%"),
    (BOTH, "sortquant:b=9,s=3", "RTE 79.7%"),
    (FIRST, "uniform:b=6", "RTE 77.5%±0.1"),
    (FIRST, "sortquant:b=3,s=3", "RTE 78.1%±0.2"),
    (FIRST, "kmeans:b=6,iters=50", "RTE 52.7% / 53.6% (a bug, said the study)"),
    (FIRST, "kmeans:b=6,iters=100", "RTE 55.1% (a bug, said the study)"),
    (LAST, "uniform:b=6", "CoLA 0.587±0.007 / RTE 52.2%"),
    (LAST, "sortquant:b=3,s=3", "CoLA 0.591±0.006 / RTE 75.0%"),
    (LAST, "kmeans:b=6,iters=50", "RTE 79.4%"),
    (LAST, "kmeans:b=6,iters=100", "CoLA 0.633±0.006"),
]

SPACE = Space(
    name="seed-nlp",
    description="the study's NLP rows: none, uniform 16/10/8/6/4, top-k 0.5/0.2, sort-quant "
    "2+2/3+3/6+2/9+3 at first:1,last:2; uniform 6, sort-quant 3+3, k-means 6 (50/100 iters) "
    "at first:1 and at last:2",
    default_task="rotten_tomatoes",
    rows=[{"fwd": spec, "placement": p} for p, spec, _ in ROWS],
    training={"epochs": 2, "limit_train": 1200, "limit_val": 800, "max_length": 48, "lr": 5e-5},
    published={(p, spec): value for p, spec, value in ROWS},
)
