"""The GPU check (``make gpu-check``, at most ~8 minutes on one GPU): the compressors at the
study's shapes against ``x.clone()`` on the device; the training step with each method
against ``none`` for CV at 224 px (EfficientNet-Lite0 with its packaged weights and
MobileNetV2, batch 64) and NLP (MiniLM, and a roberta-base-sized model with random weights,
length 128, batch 32), in fp32 and bf16; and a 4-trial Ray sweep with --gpus-per-trial 0.5
whose runs must say where they ran. One table of checks; any failure fails the command.
``--smoke`` is its CPU form on tiny shapes, which the test suite runs so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from schema import REPO, TAG_DEVICE

from . import compressors, step

FULL_SETUPS = (
    step.Setup("cv", "efficientnet_lite0", 224, 64),
    step.Setup("cv", "mobilenet_v2", 224, 64),
    step.Setup("nlp", "minilm", 128, 32),
    step.Setup("nlp", "roberta-base-random", 128, 32),
)
SMOKE_SETUPS = (step.Setup("cv", "efficientnet_lite0", 32, 8), step.Setup("nlp", "minilm", 16, 4))
STUDY_SHAPES = [(64, 32, 112, 112), (64, 1280, 7, 7), (32, 128, 768)]


def run(device: str = "cuda", smoke: bool = False) -> list[dict]:
    """Every check as {check, ok, detail}; the tables are printed as they are measured."""
    results = []
    t0 = time.time()
    shapes = [(4, 24, 28, 28)] if smoke else STUDY_SHAPES
    specs = compressors.SPECS[:4] if smoke else compressors.SPECS
    rows = compressors.run(shapes=shapes, specs=specs, repeats=1 if smoke else 3, reference=False, device=device)
    finite = all(r["x_clone"] > 0 and r["snr"] == r["snr"] for r in rows)
    results.append(dict(check=f"compressors on {device}", ok=finite, detail=f"{len(rows)} (shape, spec) rows"))
    setups = SMOKE_SETUPS if smoke else FULL_SETUPS
    for precision in ("fp32", "bf16"):
        res = step.run(steps=2 if smoke else 8, rounds=1 if smoke else 2, device=device, precision=precision,
                       setups=setups, specs=step.SPECS[:2] if smoke else step.SPECS)  # fmt: skip
        for label, r in res.items():
            missed = [s for s, t in step.GPU_TARGETS.items() if s in r and device == "cuda" and r[s]["x_none"] > t]
            ok = all(v["x_none"] > 0 for k, v in r.items() if k != "_base")
            detail = f"none {r['_base']['step_s']:.3f} s/step" + (
                f"; over target: {', '.join(missed)}" if missed else ""
            )
            results.append(dict(check=f"step {label} {precision}", ok=ok, detail=detail))
    results.append(sweep_check(device, smoke))
    results.append(dict(check="wall time", ok=True, detail=f"{(time.time() - t0) / 60:.1f} min"))
    return results


def sweep_check(device: str, smoke: bool) -> dict:
    """A real 4-trial sweep (2 rows x 2 seeds), 2 trials per GPU; its runs must name the device."""
    from schema.store import search

    with tempfile.TemporaryDirectory() as d:
        space = Path(d) / "gpu.json"
        rows = [{"fwd": "none"}, {"fwd": "uniform:b=8"}]
        training = {"model": "efficientnet_lite0", "epochs": 1, "limit_train": 64 if smoke else 512,
                    "limit_val": 32 if smoke else 256, "batch_size": 16 if smoke else 64}  # fmt: skip
        space.write_text(json.dumps({"description": "gpu check", "task": "fashion_mnist", "rows": rows,
                                     "training": training}))  # fmt: skip
        uri = f"sqlite:///{d}/mlflow.db"
        share = (
            ["--device", "cpu", "--cpus-per-trial", "1"]
            if device == "cpu"
            else ["--device", "cuda", "--gpus-per-trial", "0.5"]
        )
        cmd = [sys.executable, str(REPO / "sweep.py"), "run", "--space", str(space), "--seeds", "2", "--name", "gpu",
               "--tracking-uri", uri, "--storage", f"{d}/ray", *share]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        runs = search(uri, "gpu")  # the trial runs that finished
        where = sorted({x.data.tags.get(TAG_DEVICE, "?") for x in runs})
    ok = r.returncode == 0 and where == [device] and len(runs) == 4
    detail = f"exit {r.returncode}, runs on {where}" + ("" if ok else f": {(r.stdout + r.stderr)[-300:]}")
    return dict(check=f"4-trial sweep, {' '.join(share[2:])}", ok=ok, detail=detail)


def report(results: list[dict]) -> int:
    t = Table(title="gpu-check")
    for col in ("check", "ok", "detail"):
        t.add_column(col)
    for r in results:
        t.add_row(r["check"], "ok" if r["ok"] else "FAILED", r["detail"])
    Console(width=150).print(t)
    return 0 if all(r["ok"] for r in results) else 1
