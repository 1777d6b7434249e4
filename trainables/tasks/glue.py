"""The GLUE TSV reader the GLUE tasks share: <root>/<Folder>/{train,dev}.tsv, read with
quoting off (GLUE's sentences hold bare quotes), every error one line naming file, line and
what is allowed."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from ..common import ConfigError

Examples = tuple[list[str], list[str] | None, list[int]]


def tsv(path: Path, header: bool) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"{path}: not found (GLUE TSV layout: <root>/CoLA/train.tsv, <root>/RTE/dev.tsv, ...)")
    try:
        df = pd.read_csv(
            path, sep="\t", quoting=csv.QUOTE_NONE, header=0 if header else None, keep_default_na=False, dtype=str
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a readable TSV ({str(e).splitlines()[0]})") from None
    if df.empty:
        raise ConfigError(f"{path}: no examples")
    return df


def read(
    root: str | None,
    task: str,
    folder: str,
    split: str,
    text: tuple,
    label,
    labels: dict[str, int],
    header: bool = True,
    columns: int | None = None,
) -> Examples:
    """One GLUE split: the text column(s) (one, or a sentence pair) and the label column mapped
    through ``labels``. Headerless files (CoLA) name columns by position and give ``columns``."""
    if not root:
        raise ConfigError(f"task={task}: --root must name the GLUE folder (with {folder}/train.tsv and dev.tsv)")
    path = Path(root) / folder / f"{split}.tsv"
    df = tsv(path, header)
    if columns is not None and df.shape[1] != columns:
        raise ConfigError(f"{path}: {df.shape[1]} columns; {folder} has {columns}")
    missing = [str(c) for c in (*text, label) if c not in df.columns]
    if missing:
        want = ", ".join(str(c) for c in (*text, label))
        raise ConfigError(f"{path}: no column {', '.join(missing)}; {folder} needs {want}")
    bad = ~df[label].isin(list(labels))
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        allowed = ", ".join(labels)
        raise ConfigError(f"{path}: line {i + 1 + header}: label {df[label].iloc[i]!r}; {folder} labels are {allowed}")
    second = df[text[1]].tolist() if len(text) > 1 else None
    return df[text[0]].tolist(), second, [labels[v] for v in df[label]]
