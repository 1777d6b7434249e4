"""The CV recipe on the results page: the `none` baseline of the CV settings under the legacy
recipe (the archived v2 page's runs) beside the finetune recipe's, and the search that chose the
recipe and the setting (``benchmarks/cv_recipe.py``, one JSON line per variant and seed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import schema

from . import runs

TASK = "fashion_mnist"
# (label, experiments holding its `none` runs, image sizes, target mean, target std): issue 20's
# targets. The CV default was 4000 images at 32 px for 3 epochs; it is 6000 at 64 px for one.
SETTINGS = (
    ("CV default", ("results-collapse",), (32, 64), 0.85, 0.01),
    ("224 px", ("results-cv224", "recipe-cv224"), (224,), 0.80, 0.02),
)
EXPERIMENTS = ("recipe-cv224",)  # experiments of their own that only this section reads
SEEDS = 5  # a target is judged over this many seeds
TARGET = (*SETTINGS[0][3:], SEEDS)  # the search's: the CV default's mean and std, over SEEDS seeds


def _size(cfg: dict) -> int:
    return int(cfg.get("image_size") or 32)


def baseline_runs(df: pd.DataFrame, experiments=("results-collapse",), sizes=(32, 64)) -> pd.DataFrame:
    """The finished `none` runs (no backward compression) of the CV task in these experiments,
    at these input sizes."""
    if df.empty:
        return df
    fin = df[(df["status"] == "FINISHED") & df["experiment"].isin(experiments) & (df["task"] == TASK)]
    fin = fin[(fin["fwd"] == "none") & (fin["bwd"].fillna("").isin(["none", ""]))]
    if "config_json" not in fin.columns:  # a frame without configs: the task's defaults
        fin = fin.assign(config_json="{}")
    size = fin["config_json"].map(lambda c: _size(json.loads(c)))
    return fin[size.isin(sizes)]


def _label(cfg: dict, where: str) -> str:
    bits = [f"{_size(cfg)} px"]
    if cfg.get("limit_train"):
        bits.append(f"{cfg['limit_train']} images")
    if cfg.get("epochs"):
        bits.append(f"{cfg['epochs']} epoch{'' if int(cfg['epochs']) == 1 else 's'}")
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
    the finetune recipe's in runs.csv (judged against the setting's target)."""
    lines = []
    for label, experiments, sizes, mean_t, std_t in SETTINGS:
        for v2, frame, target in ((True, old, None), (False, new, (mean_t, std_t))):
            runs_ = baseline_runs(frame, experiments, sizes)
            if runs_.empty:
                continue
            setting = runs_["config_json"].map(lambda c: schema.config_id(json.loads(c)))  # the seed aside
            for _, d in runs_.groupby(setting, sort=False):  # one config (seeds aside) a line
                cfg = json.loads(d.iloc[0]["config_json"])
                if not v2 and not cfg.get("recipe"):
                    continue  # legacy runs still in runs.csv belong to the v2 rows
                where = d.iloc[0]["experiment"] + (", v2 page" if v2 else "")
                lines.append(_row(label, _label(cfg, where), d, target))
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
        "legacy recipe, `ft_NxE` the finetune recipe on N images for E epochs (at 32 px unless "
        "`64px` is named); sittings shared the 2 cores, so seconds compare only within a sitting):\n\n"
        + "\n".join(rows)
        + "\n\n"
        + verdict
    )


def block(out: Path, df: pd.DataFrame) -> str:
    """The page's recipe section (empty when no setting has baseline runs)."""
    old_csv = out / "v2" / "runs.csv"
    old = runs.read_csv(old_csv) if old_csv.is_file() else pd.DataFrame()
    lines = _baselines(old, df)
    if not lines:
        return ""
    head = "| setting | recipe (input, images, epochs; where) | N | val_acc % per seed | mean ± std | train loss "
    head += "| target |"
    table = [head, "|---|---|---|---|---|---|---|", *lines]
    return (
        "\n## The CV recipe\n\nThe `none` baseline of the CV settings, per recipe and setting. The CV "
        "default (Fashion-MNIST, EfficientNet-Lite0, batch 64, 1000 validation images; experiment "
        "`results-collapse`) was 4000 images at 32 px for 3 epochs; it is now one pass over 6000 "
        "images upsampled to 64 px, the first setting of the search below to clear the target, in "
        "less CPU a trial (ft_64px_6000x1 took 60-95 s a seed where 4000 x 3 at 32 px took about "
        "97 s; the two back to back on a busy machine, seed 0: 120 s against 140 s). The sections "
        "below use it; the archived `v3/` page has the 32 px finetune runs. "
        "224 px: 640/320 images, 2 epochs, batch 32 (the `cv224-uniform` setting; the finetune runs "
        "in experiment `recipe-cv224`). legacy: SGD at lr 0.01 for body and head, the model's "
        "BatchNorm momentum (0.01, so 15% of the running statistics used at evaluation were still "
        "ImageNet's after 186 steps), random crop and flip. finetune: AdamW at lr 2e-3 with a 5% "
        "linear warm-up then cosine, BatchNorm momentum 0.1, no augmentation (the model underfits "
        "its steps).\n\n" + "\n".join(table) + _search(out / "recipe-search.jsonl") + "\n"
    )
