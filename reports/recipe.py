"""The CV recipe on the results page: the `none` baseline of the 32 px setting under the legacy
recipe (the archived v2 page's runs) beside the finetune recipe (this page's), and the search
that chose it (``benchmarks/cv_recipe.py``, one JSON line per variant and seed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import schema

from . import runs

EXPERIMENT, TASK = "results-collapse", "fashion_mnist"
TARGET = (0.85, 0.01, 5)  # the baseline the setting must reach: mean, at most this sample std, over N seeds


def baseline_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The finished `none` / `none` runs of the collapse experiment's CV task."""
    fin = df[(df["status"] == "FINISHED") & (df["experiment"] == EXPERIMENT) & (df["task"] == TASK)]
    return fin[(fin["fwd"] == "none") & (fin["bwd"].isin(["none", ""]))]


def _row(name: str, d: pd.DataFrame) -> str:
    acc = d.sort_values("seed")[schema.VAL_ACC].astype(float).to_numpy() * 100
    loss = d[schema.TRAIN_LOSS].astype(float).mean()
    std = f" ± {acc.std(ddof=1):.1f}" if len(acc) > 1 else ""
    seeds = ", ".join(f"{a:.1f}" for a in acc)
    return f"| {name} | {len(acc)} | {seeds} | {acc.mean():.1f}{std} | {loss:.3f} |"


def _search(path: Path) -> str:
    if not path.is_file():
        return ""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    by: dict[str, list] = {}
    for x in lines:
        by.setdefault(x["recipe"], []).append(x)
    rows = ["| variant | seeds | final val_acc % per seed | mean ± std | train loss |", "|---|---|---|---|---|"]
    met, best = [], None
    for name, xs in by.items():
        acc = np.array([x["acc"][-1] for x in sorted(xs, key=lambda x: x["seed"])])
        std = acc.std(ddof=1) if len(acc) > 1 else float("nan")
        spread = f" ± {std * 100:.1f}" if len(acc) > 1 else ""
        accs = ", ".join(f"{a * 100:.1f}" for a in acc)
        rows.append(
            f"| {name} | {len(xs)} | {accs} | {acc.mean() * 100:.1f}{spread} | {np.mean([x['loss'] for x in xs]):.3f} |"
        )
        if len(acc) >= TARGET[2]:
            if acc.mean() >= TARGET[0] and std <= TARGET[1]:
                met.append(name)
            if best is None or acc.mean() > best[1]:
                best = (name, acc.mean(), std)
    goal = f"mean ≥ {TARGET[0] * 100:g}% with std ≤ {TARGET[1] * 100:g} point over {TARGET[2]} seeds"
    if met:
        verdict = f"The target ({goal}) is met by {', '.join(met)}."
    elif best:
        verdict = (
            f"No variant with {TARGET[2]} seeds meets the target ({goal}); the best is {best[0]} at "
            f"{best[1] * 100:.1f} ± {best[2] * 100:.1f}."
        )
    else:
        verdict = f"No variant has {TARGET[2]} seeds yet to judge the target ({goal})."
    return (
        "\n\nThe search (`python -m benchmarks.cv_recipe VARIANTS SEEDS`, its lines in "
        f"`{path.name}`; variants are named in `benchmarks/cv_recipe.py`, each a change to the "
        "legacy recipe, `ft_NxE` the finetune recipe on N images for E epochs; sittings shared the "
        "2 cores, so seconds are not comparable):\n\n" + "\n".join(rows) + "\n\n" + verdict
    )


def block(out: Path, df: pd.DataFrame) -> str:
    """The page's recipe section (empty when neither recipe has baseline runs)."""
    old_csv = out / "v2" / "runs.csv"
    old = baseline_runs(runs.read_csv(old_csv)) if old_csv.is_file() else pd.DataFrame()
    new = baseline_runs(df)
    if old.empty and new.empty:
        return ""
    table = ["| recipe | N | val_acc % per seed | mean ± std | train loss |", "|---|---|---|---|---|"]
    if not old.empty:
        table.append(_row("legacy (v2 page)", old))
    if not new.empty:
        table.append(_row("finetune (this page)", new))
    return (
        "\n## The CV recipe\n\nThe `none` baseline of the 32 px setting (Fashion-MNIST, 4000/1000 "
        "images, 3 epochs, EfficientNet-Lite0, batch 64), experiment `results-collapse`. legacy: "
        "SGD at lr 0.01 for body and head, the model's BatchNorm momentum (0.01, so 15% of the "
        "running statistics used at evaluation were still ImageNet's after 186 steps), random "
        "crop and flip. finetune: AdamW at lr 2e-3 with a 5% linear warm-up then cosine, "
        "BatchNorm momentum 0.1, no augmentation (the model underfits 186 steps); the same CPU "
        "per trial.\n\n" + "\n".join(table) + _search(out / "recipe-search.jsonl") + "\n"
    )
