"""Figures a section's prose cites, computed where the page is built (issue 29: the page
computes every number it prints). A section's ``why`` names each as ``{name}``; ``fill``
replaces it with the figure and the file it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import schema

from . import recipe, runs

CV = "fashion_mnist"
LEGACY_SETTING = {"limit_train": 4000, "epochs": 3, "image_size": 32}  # the v2 collapse's setting
BWD_ONLY = (("uniform:b=4", "4"), ("uniform:b=8", "8"))  # backward-only rows the v2 collapse rests on


def _setting(df: pd.DataFrame, recipe_name: str | None) -> pd.DataFrame:
    """The finished CV `results-collapse` runs of the legacy 32 px setting under one recipe."""
    if df.empty or "config_json" not in df:
        return df.iloc[0:0]
    d = df[(df["status"] == "FINISHED") & (df["experiment"] == "results-collapse") & (df["task"] == CV)]
    cfg = d["config_json"].map(lambda c: json.loads(c or "{}"))
    keep = cfg.map(
        lambda c: (c.get("recipe") or None) == recipe_name
        and all((c.get(k) or (32 if k == "image_size" else None)) == v for k, v in LEGACY_SETTING.items())
    )
    return d[keep.astype(bool)]


def _bwd_deltas(d: pd.DataFrame) -> list[tuple[str, float, int]] | None:
    """(bits, mean val_acc of the backward-only row minus `none`'s in points, seeds) per row;
    None when a row or the baseline has no runs. Means over seeds, not pairs: the runs recorded
    no host, so their seeds are not known to share a machine."""
    if d.empty or "fwd" not in d:
        return None
    fwd_none = d[d["fwd"] == "none"]
    base = fwd_none[fwd_none["bwd"].fillna("none") == "none"]
    out = []
    for spec, bits in BWD_ONLY:
        row = fwd_none[fwd_none["bwd"] == spec]
        if base.empty or row.empty:
            return None
        delta = (row[schema.VAL_ACC].astype(float).mean() - base[schema.VAL_ACC].astype(float).mean()) * 100
        out.append((bits, delta, min(row["seed"].nunique(), base["seed"].nunique())))
    return out


def v2_legacy_collapse(df: pd.DataFrame, out: Path) -> str:
    """What backward-only 4 and 8 bits cost on the legacy recipe (the v2 page's runs), and what
    they cost on the finetune recipe at the same setting (runs.csv)."""
    old_csv = out / "v2" / "runs.csv"
    old = runs.read_csv(old_csv) if old_csv.is_file() else pd.DataFrame()
    legacy, finetune = _bwd_deltas(_setting(old, None)), _bwd_deltas(_setting(df, "finetune"))
    if legacy is None:
        return "the v2 runs are not beside this page (`v2/runs.csv`)"
    (b4, d4, n4), (b8, d8, _) = legacy
    text = (
        f"{b4}-bit min-max on the gradient alone lost {-d4:.1f} points and {b8}-bit {-d8:.1f} "
        f"(mean val_acc against `none`'s over {n4} seeds, `{recipe.V2_CSV}`)"
    )
    if finetune is not None:
        (_, f4, n), (_, f8, _) = finetune
        text += (
            f", while the finetune recipe at the same setting moves the same rows by {f4:+.1f} and "
            f"{f8:+.1f} points ({n} seeds, `{recipe.CSV}`)"
        )
    return text


def study_steps(df: pd.DataFrame, out: Path) -> str:
    """The optimizer steps the study's CV runs had (its README's epochs and batch)."""
    from search_spaces.study import STUDY_STEPS

    lo, hi = STUDY_STEPS["cv"]
    return f"{lo:,}-{hi:,}"


def study_range(df: pd.DataFrame, out: Path) -> str:
    """Values one per-tensor range spans at the study's first CV cut."""
    from search_spaces.study import STUDY_RANGE_VALUES
    from trainables.scale import values

    return values(STUDY_RANGE_VALUES["cv"])


def cpu_steps(df: pd.DataFrame, out: Path) -> str:
    """The fewest and most optimizer steps of the page's CPU sweeps (each sweep's setting)."""
    import search_spaces
    from trainables.scale import scale

    from .sections import SECTIONS

    steps = set()
    for sec in SECTIONS:
        for space, task, _ in sec.spaces if sec.device == "cpu" else ():
            sp = search_spaces.get(space)
            steps.update(scale({**cfg, "task": task}).steps for cfg in sp.grid(sp.base(task), 1))
    return f"{min(steps)}-{max(steps)}"


def trial_minutes(df: pd.DataFrame, out: Path, experiment: str = "results-cv224") -> str:
    """The median minutes a finished trial of an experiment took on a recorded host."""
    d = df[(df["experiment"] == experiment) & (df["status"] == "FINISHED")] if "experiment" in df else df.iloc[0:0]
    d = d[d[schema.TAG_HOST].notna()] if schema.TAG_HOST in d else d.iloc[0:0]
    if d.empty:
        return "(no finished run yet)"
    return f"{float((d['end_time'] - d['start_time']).median()) / 60000:.1f}"


def _repeated(space: str, task: str) -> tuple[str, int]:
    """A delta-acting space's setting ("N steps over M examples E times") and its epochs."""
    import search_spaces
    from trainables.scale import scale

    sp = search_spaces.get(space)
    sc = scale({**sp.grid(sp.base(task), 1)[0], "task": task})
    return f"{sc.steps} steps over {sc.examples} examples {sc.epochs} times", sc.epochs


def delta_cv(df: pd.DataFrame, out: Path) -> str:
    """The delta-acting CV setting, and the share of forward values AQ-SGD sends as deltas there
    (all but each example's first sighting)."""
    text, epochs = _repeated("aqsgd-cv", CV)
    return f"{text} ({epochs - 1} in {epochs} of the forward values go as deltas"


def delta_nlp(df: pd.DataFrame, out: Path) -> str:
    """The delta-acting NLP setting."""
    return _repeated("aqsgd-nlp", "rotten_tomatoes")[0]


FACTS = {
    f.__name__: f
    for f in (v2_legacy_collapse, study_steps, study_range, cpu_steps, trial_minutes, delta_cv, delta_nlp)
}


class _Lazy(dict):
    def __init__(self, df: pd.DataFrame, out: Path):
        super().__init__()
        self.df, self.out = df, out

    def __missing__(self, key: str) -> str:
        if key not in FACTS:
            raise KeyError(f"a section's text names {{{key}}}; the figures it may cite: {', '.join(FACTS)}")
        return FACTS[key](self.df, self.out)


def fill(text: str, df: pd.DataFrame, out: Path) -> str:
    """``text`` with each ``{name}`` replaced by its figure, computed from ``df`` (runs.csv's
    runs) and the archived runs beside the page under ``out``."""
    return text.format_map(_Lazy(df, out))
