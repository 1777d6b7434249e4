"""The CV recipe search behind trainables.cv.RECIPES: the `none` baseline of the 32 px results
setting (Fashion-MNIST, 4000/1000 images, 3 epochs, EfficientNet-Lite0, batch 64) under named
variations of the recipe, one JSON line per (variant, seed) with the accuracy after each epoch,
the last epoch's train loss and the seconds it took.

    python -m benchmarks.cv_recipe legacy,bn,adamw2_noaug 0,1,2 >> docs/results/recipe-search.jsonl
"""

from __future__ import annotations

import json
import sys
import time

import schema

BN = {"recipe": "legacy", "bn_momentum": 0.1}
ADAMW = {**BN, "optimizer": "adamw", "lr": 1e-3, "warmup": 0.05}
VARIANTS = {  # each on top of the legacy recipe (SGD lr 0.01, ImageNet BatchNorm momentum, augmentation)
    "old": {"recipe": "legacy"},
    "bn": BN,
    "bn_head10": {**BN, "head_lr": 10},
    "bn_lr05_w": {**BN, "lr": 0.05, "warmup": 0.1},
    "bn_lr03_head10_w": {**BN, "lr": 0.03, "head_lr": 10, "warmup": 0.1},
    "bn_bs32_head10": {**BN, "batch_size": 32, "head_lr": 10},
    "bn_noaug_h10": {**BN, "augment": False, "head_lr": 10},
    "adamw3": ADAMW,
    "adamw3_bs32": {**ADAMW, "batch_size": 32},
    "adamw3_noaug": {**ADAMW, "augment": False},
    "adamw3_bs32_noaug": {**ADAMW, "batch_size": 32, "augment": False},
    "adamw2_noaug": {**ADAMW, "lr": 2e-3, "augment": False},
    "adamw4_noaug": {**ADAMW, "lr": 4e-3, "augment": False},
    "finetune": {"recipe": "finetune"},
    "ft_6000x2": {"recipe": "finetune", "limit_train": 6000, "epochs": 2},  # the same samples seen
    "ft_12000x1": {"recipe": "finetune", "limit_train": 12000, "epochs": 1},
    "ft_8000x2": {"recipe": "finetune", "limit_train": 8000, "epochs": 2},  # a third more CPU
    "ft_64px_2000x2": {"recipe": "finetune", "image_size": 64, "limit_train": 2000, "epochs": 2},  # ~1.3x CPU
    "ft_64px_3000x2": {"recipe": "finetune", "image_size": 64, "limit_train": 3000, "epochs": 2},
    "ft_64px_6000x1": {"recipe": "finetune", "image_size": 64, "limit_train": 6000, "epochs": 1},  # one pass
    "ft_64px_8000x1": {"recipe": "finetune", "image_size": 64, "limit_train": 8000, "epochs": 1},
    "ft_ls01": {"recipe": "finetune", "label_smoothing": 0.1},
    "ft_head10": {"recipe": "finetune", "head_lr": 10},
    "ft_wd05": {"recipe": "finetune", "weight_decay": 0.05},
}
SETTING = {"task": "fashion_mnist", "model": "efficientnet_lite0", "epochs": 3, "limit_train": 4000, "limit_val": 1000}


def main(argv: list[str]) -> int:
    from trainables import cv

    names, seeds = argv[0].split(","), [int(s) for s in argv[1].split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"variants {', '.join(unknown)}: must be among {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    for name in names:
        for seed in seeds:
            t0, history = time.time(), []
            cfg = {**SETTING, **VARIANTS[name], "seed": seed, "eval_every": 10**9}  # epoch ends only
            last = cv.train(cfg, history.append)
            line = {"recipe": name, "seed": seed, "acc": [h[schema.VAL_ACC] for h in history],
                    "loss": last[schema.TRAIN_LOSS], "s": round(time.time() - t0, 1)}  # fmt: skip
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
