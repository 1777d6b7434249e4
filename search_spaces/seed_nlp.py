"""The study's RoBERTa-base / GLUE rows (search_spaces.study.NLP_TABLES): ``first:1,last:2``
(after the first encoder layer and before the last), ``first:1`` (the first layer only)
and ``last:2`` (the last two layers)."""

from __future__ import annotations

from . import Space
from .study import NLP_BOTH, NLP_TABLES, rows

# the rows the page's NLP claims rest on come first, for a sitting that runs out of time
FIRST = [(NLP_BOTH, "none"), (NLP_BOTH, "uniform:b=8"), (NLP_BOTH, "uniform:b=4")]
ORDERED = FIRST + [r for r in rows(NLP_TABLES) if r not in FIRST]

SPACE = Space(
    name="seed-nlp",
    description="the study's NLP rows: none, uniform 16/10/8/6/4, top-k 0.5/0.2, sort-quant "
    "2+2/3+3/6+2/9+3 at first:1,last:2; uniform 6, sort-quant 3+3, k-means 6 (50/100 iters) "
    "at first:1 and at last:2",
    default_task="rotten_tomatoes",
    rows=[{"fwd": spec, "placement": p} for p, spec in ORDERED],
    training={"epochs": 2, "limit_train": 1200, "limit_val": 800, "max_length": 48, "lr": 1e-4},
)
