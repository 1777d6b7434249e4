"""Training step time with each method against the uncompressed step: the whole model's
forward, backward and optimizer step on the CV and NLP defaults, same batches, methods
interleaved in one process, the median over rounds of step_time(method) / step_time(none)
measured in the same round. Also what the step pays beyond the boundaries' own measured
compress time (``other``): a layout change, allocation or a recompile would show there.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from compression.boundary import Boundary

CV_SPECS = ["none", "uniform:b=8", "sortquant:b=6,s=2", "topk:r=0.2", "kmeans:b=4,iters=20", "delta:b=3"]
NLP_SPECS = ["none", "uniform:b=8", "sortquant:b=6,s=2", "topk:r=0.2", "kmeans:b=4,iters=20", "delta:b=3"]
TARGETS = {
    "cv": {"uniform:b=8": 1.10, "sortquant:b=6,s=2": 1.15, "topk:r=0.2": 1.20, "kmeans:b=4,iters=20": 1.50},
    "nlp": {"uniform:b=8": 1.10, "sortquant:b=6,s=2": 1.10, "topk:r=0.2": 1.10, "kmeans:b=4,iters=20": 1.10},
}
DISTINCT = 4  # batches cycled: AQ-SGD's buffers see each example again after the warm-up pass


class Task:
    """A model, an optimizer and DISTINCT fixed batches (inputs, labels, example ids)."""

    def __init__(self, model, batches, loss, placement: str, lr: float):
        self.model, self.batches, self.loss, self.placement = model, batches, loss, placement
        self.state = {k: v.clone() for k, v in model.state_dict().items()}
        self.lr = lr

    def time(self, spec: str, steps: int) -> tuple[float, float]:
        """(seconds per timed step, boundary seconds per timed step) after a warm-up pass."""
        from trainables import placement

        self.model.load_state_dict(self.state)
        opt = torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=0.9)
        bwd = None
        bounds: list[Boundary] = placement.attach(self.model, self.placement, spec, bwd)
        self.model.train()
        try:
            for i in range(DISTINCT + 1):  # warm-up: compiles, allocations, AQ-SGD's first sightings
                self._step(opt, bounds, self.batches[i % DISTINCT])
            for b in bounds:
                b.reset_stats()
            t0 = time.perf_counter()
            for i in range(steps):
                self._step(opt, bounds, self.batches[i % DISTINCT])
            total = time.perf_counter() - t0
            bookkeeping = sum(b.stats["seconds_stats"] for b in bounds)
            comp = sum(b.stats["seconds_fwd"] + b.stats["seconds_bwd"] for b in bounds)
        finally:
            placement.detach(bounds)
        return (total - bookkeeping) / steps, comp / steps

    def _step(self, opt, bounds, batch):
        from trainables.common import train_step  # the trainables' own step, not a copy

        x, y, ids = batch
        train_step(lambda xb, yb: self.loss(self.model, xb, yb), x, y, ids, opt, None, bounds)


def cv_task(quick: bool) -> Task:
    import trainables
    from trainables import cv

    task = trainables.task("fashion_mnist")
    x, y = task.load(None, "train")
    bs = 16 if quick else 64
    gen = torch.Generator().manual_seed(0)
    batches = []
    for i in range(DISTINCT):
        sel = torch.arange(i * bs, (i + 1) * bs)
        batches.append((cv.to_input(x[sel], 32, True, gen), y[sel], sel))
    model = cv.build_model("efficientnet_lite0", None, num_classes=task.num_classes)
    return Task(model, batches, lambda m, xb, yb: F.cross_entropy(m(xb), yb), task.placement, 0.01)


def nlp_task(quick: bool) -> Task:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    import trainables
    from trainables import nlp

    hf_logging.set_verbosity_error()
    task = trainables.task("rotten_tomatoes")
    ex = task.load(None, "train")
    d = nlp.default_model_dir()
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSequenceClassification.from_pretrained(d, num_labels=task.num_classes)
    bs = 8 if quick else 32
    batches = []
    for i in range(DISTINCT):
        sel = torch.arange(i * bs, (i + 1) * bs)
        rows, y = nlp.tokenize(tok, ex, sel, 48)
        batches.append((nlp.collate(rows, tok.pad_token_id), y, sel))
    return Task(model, batches, lambda m, xb, yb: F.cross_entropy(m(**xb).logits, yb), task.placement, 1e-4)


def measure(task: Task, specs: list[str], steps: int, rounds: int) -> dict[str, dict]:
    ratios: dict[str, list[float]] = {s: [] for s in specs}
    comp: dict[str, list[float]] = {s: [] for s in specs}
    base: list[float] = []
    for _ in range(rounds):
        times = {}
        for s in specs:  # interleaved: every round runs each method once, none first
            times[s], c = task.time(s, steps)
            comp[s].append(c)
        base.append(times["none"])
        for s in specs:
            ratios[s].append(times[s] / times["none"])
    med_base = statistics.median(base)
    return {
        s: {
            "x_none": statistics.median(ratios[s]),
            "spread": (min(ratios[s]), max(ratios[s])),
            "compress": statistics.median(comp[s]) / med_base,
        }
        for s in specs
    } | {"_base": {"step_s": med_base}}


def run(steps: int = 24, rounds: int = 3, quick: bool = False, tasks: tuple[str, ...] = ("cv", "nlp")) -> dict:
    console = Console(width=130)
    out = {}
    for name, make, specs, n in (("cv", cv_task, CV_SPECS, steps), ("nlp", nlp_task, NLP_SPECS, max(4, steps // 2))):
        if name not in tasks:
            continue
        if quick:
            specs, n, rounds = specs[:2], 2, 1
        res = measure(make(quick), specs, n, rounds)
        out[name] = res
        t = Table(
            title=f"{name.upper()} default: step time / step time of none (median of {rounds} interleaved "
            f"rounds of {n} steps; none = {res['_base']['step_s']:.3f} s/step, {torch.get_num_threads()} threads)"
        )
        for col in ("method", "step / none", "min-max", "compress / none step", "other / none step", "target"):
            t.add_column(col, justify="right" if col != "method" else "left")
        for s in specs:
            r = res[s]
            other = r["x_none"] - 1 - r["compress"]
            target = TARGETS[name].get(s)
            mark = "" if target is None else (" ok" if r["x_none"] <= target else " MISSED")
            t.add_row(
                s,
                f"{r['x_none']:.3f}x",
                f"{r['spread'][0]:.2f}-{r['spread'][1]:.2f}",
                f"{r['compress']:.3f}",
                f"{other:+.3f}",
                f"<= {target:.2f}x{mark}" if target else "",
            )
        console.print(t)
    return out
