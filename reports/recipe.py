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

TASK = "fashion_mnist"
# (label, experiments holding its `none` runs, image size, target mean, target std): issue 20's targets
SETTINGS = (
    ("32 px", ("results-collapse",), 32, 0.85, 0.01),
    ("224 px", ("results-cv224", "recipe-cv224"), 224, 0.80, 0.02),
)
EXPERIMENTS = ("recipe-cv224",)  # experiments of their own that only this section reads
SEEDS = 5  # a target is judged over this many seeds
TARGET = (*SETTINGS[0][3:], SEEDS)  # the search's: the 32 px setting's mean and std, over SEEDS seeds


def baseline_runs(df: pd.DataFrame, experiments=("results-collapse",), image_size: int = 32) -> pd.DataFrame:
    """The finished `none` runs (no backward compression) of the CV task in these experiments,
    at this input size."""
    if df.empty:
        return df
    fin = df[(df["status"] == "FINISHED") & df["experiment"].isin(experiments) & (df["task"] == TASK)]
    fin = fin[(fin["fwd"] == "none") & (fin["bwd"].fillna("").isin(["none", ""]))]
    if "config_json" not in fin.columns:  # a frame without configs: the task's defaults
        fin = fin.assign(config_json="{}")
    size = fin["config_json"].map(lambda c: int(json.loads(c).get("image_size") or 32))
    return fin[size == image_size]


def _label(cfg: dict, where: str) -> str:
    bits = [f"{cfg[k]} {name}" for k, name in (("limit_train", "images"), ("epochs", "epochs")) if cfg.get(k)]
    return f"{cfg.get('recipe') or 'legacy'} ({', '.join(bits)}; {where})"


def _row(setting: str, name: str, d: pd.DataFrame, target: tuple[float, float] | None = None) -> str:
    acc = d.sort_values("seed")[schema.VAL_ACC].astype(float).to_numpy() * 100
    loss = d[schema.TRAIN_LOSS].astype(float).mean()
    sd = acc.std(ddof=1) if len(acc) > 1 else float("nan")
    std = f" ± {sd:.1f}" if len(acc) > 1 else ""
    seeds = ", ".join(f"{a:.1f}" for a in acc)
    goal = ""
    if target is not None:
        mean_t, std_t = target[0] * 100, target[1] * 100
        if len(acc) < SEEDS:
            goal = f"{len(acc)} of {SEEDS} seeds"
        else:
            goal = "met" if acc.mean() >= mean_t and sd <= std_t else "not met"
        goal = f"≥ {mean_t:g}%, std ≤ {std_t:g}: {goal}"
    return f"| {setting} | {name} | {len(acc)} | {seeds} | {acc.mean():.1f}{std} | {loss:.3f} | {goal} |"


def _baselines(old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """One line per (setting, config) of the `none` baseline: the v2 page's legacy runs, then
    this page's (judged against the setting's target)."""
    lines = []
    for label, experiments, size, mean_t, std_t in SETTINGS:
        for where, frame, target in (("v2 page", old, None), ("this page", new, (mean_t, std_t))):
            runs_ = baseline_runs(frame, experiments, size)
            if runs_.empty:
                continue
            setting = runs_["config_json"].map(lambda c: schema.config_id(json.loads(c)))  # the seed aside
            for _, d in runs_.groupby(setting, sort=False):  # one config (seeds aside) a line
                cfg = json.loads(d.iloc[0]["config_json"])
                if where == "this page" and not cfg.get("recipe"):
                    continue  # legacy runs still in runs.csv belong to the v2 rows
                lines.append(_row(label, _label(cfg, f"{d.iloc[0]['experiment']}, {where}"), d, target))
    return lines


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
    """The page's recipe section (empty when no setting has baseline runs)."""
    old_csv = out / "v2" / "runs.csv"
    old = runs.read_csv(old_csv) if old_csv.is_file() else pd.DataFrame()
    lines = _baselines(old, df)
    if not lines:
        return ""
    table = ["| setting | recipe (images, epochs; where) | N | val_acc % per seed | mean ± std | train loss | target |",
             "|---|---|---|---|---|---|---|", *lines]  # fmt: skip
    return (
        "\n## The CV recipe\n\nThe `none` baseline of the CV settings: 32 px (Fashion-MNIST, 4000/1000 "
        "images, 3 epochs, EfficientNet-Lite0, batch 64; experiment `results-collapse`) and 224 px "
        "(640/320 images, 2 epochs, batch 32: the `cv224-uniform` setting; the finetune runs in "
        "experiment `recipe-cv224`). legacy: SGD at lr 0.01 for body and head, the model's "
        "BatchNorm momentum (0.01, so 15% of the running statistics used at evaluation were still "
        "ImageNet's after 186 steps), random crop and flip. finetune: AdamW at lr 2e-3 with a 5% "
        "linear warm-up then cosine, BatchNorm momentum 0.1, no augmentation (the model underfits "
        "186 steps); the same CPU per trial.\n\n" + "\n".join(table) + _search(out / "recipe-search.jsonl") + "\n"
    )
