"""Evaluation noise on the CV default: the paired Δ of a compressor against `none`, over seeds,
scored on the default's 1,000 validation images and on all 10,000 Fashion-MNIST test images, from
the same trained models (the 1,000 are the first of the same fixed order, so both scores see one
training). One JSON line per (spec, seed); ``summary`` gives the std of the paired Δ at both sizes.

    python -m benchmarks.eval_noise none,uniform:b=8,uniform:b=4 0,1,2,3,4 >> docs/results/eval-noise.jsonl
    python -m benchmarks.eval_noise --summary docs/results/eval-noise.jsonl
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import schema

SUBSET = 1000  # the CV default's limit_val


def run_one(spec: str, seed: int) -> dict:
    from trainables import cv, task
    from trainables.common import fit, fixed_subset
    from trainables.tasks.fashion_mnist import TRAINING

    cfg = {**TRAINING, "task": "fashion_mnist", "fwd": spec, "seed": seed, "limit_val": None, "eval_every": 10**9}
    loop = cv.loop(cfg)
    x_va, y_va = task("fashion_mnist").load(None, "dev")
    order = fixed_subset(len(y_va), None)  # limit_val=N takes the first N of this order
    x_va, y_va = x_va[order], y_va[order]
    size, bs = int(cfg["image_size"]), 64
    scores: list[tuple[float, float]] = []

    def evaluate() -> dict:
        full = cv.evaluate(loop.model, x_va, y_va, size, bs, loop.runtime)[schema.VAL_ACC]
        sub = cv.evaluate(loop.model, x_va[:SUBSET], y_va[:SUBSET], size, bs, loop.runtime)[schema.VAL_ACC]
        scores.append((sub, full))
        return {schema.VAL_ACC: full}

    loop.evaluate = evaluate
    t0 = time.time()
    fit(loop, lambda m: None)
    sub, full = scores[0]  # the epoch's end, through the boundaries (the second is val_acc_clean's)
    return {"spec": spec, "seed": seed, "acc_1000": sub, "acc_10000": full, "s": round(time.time() - t0, 1)}


def summary(path: Path) -> dict:
    """{spec: {n, std of paired Δ at 1000 and at 10000, their ratio}} against `none`."""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    by = {(d["spec"], d["seed"]): d for d in lines}
    out = {}
    for spec in sorted({d["spec"] for d in lines} - {"none"}):
        seeds = sorted(s for (sp, s) in by if sp == spec and ("none", s) in by)
        d1 = np.array([by[(spec, s)]["acc_1000"] - by[("none", s)]["acc_1000"] for s in seeds])
        d10 = np.array([by[(spec, s)]["acc_10000"] - by[("none", s)]["acc_10000"] for s in seeds])
        if len(seeds) < 2:
            continue
        s1, s10 = float(np.std(d1, ddof=1)), float(np.std(d10, ddof=1))
        out[spec] = {"n": len(seeds), "mean_1000": float(d1.mean()), "std_1000": s1,
                     "mean_10000": float(d10.mean()), "std_10000": s10,
                     "std_ratio": s1 / s10 if s10 > 0 else float("inf")}  # fmt: skip
    return out


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--summary":
        print(json.dumps(summary(Path(argv[1])), indent=1))
        return 0
    specs, seeds = argv[0].split(","), [int(s) for s in argv[1].split(",")]
    for seed in seeds:
        for spec in specs:
            print(json.dumps(run_one(spec, seed)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
