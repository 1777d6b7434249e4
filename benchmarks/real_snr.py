"""Quality at equal bits on the defaults' real cut tensors (not Gaussian noise): the activations
that cross the CV default's cuts (EfficientNet-Lite0 with its ImageNet weights, Fashion-MNIST at
64 px, batch 64) and the NLP default's (MiniLM, Rotten Tomatoes, batch 32, 48 tokens), captured by
a forward pass through boundaries that send them as they are; each spec's SNR over every cut.

    python sweep.py bench --real
"""

from __future__ import annotations

import torch
from rich.console import Console
from rich.table import Table

import compression
from compression.boundary import energies, snr_from_energy

SPECS = ("uniform:b=4,range=absmax", "hadamard:b=4", "uniform:b=3,range=absmax", "hadamard:b=3",
         "fp8:fmt=e4m3", "fp8:fmt=e5m2", "lowrank:r=4", "uniform:b=8")  # fmt: skip


def cut_tensors(family: str) -> list[torch.Tensor]:
    """The forward activations at the default cuts of one batch of the default's training data."""
    import trainables
    from trainables import placement

    task = "fashion_mnist" if family == "cv" else "rotten_tomatoes"
    entry = trainables.task(task)
    cfg = {**entry.training, "task": task, "seed": 0, "limit_train": 64 if family == "cv" else 32}
    loop = trainables.family(task).loop(cfg)
    placement.detach(loop.boundaries)
    seen: list[torch.Tensor] = []
    bounds = placement.attach(loop.model, trainables.default_placement(task), "none")
    for b in bounds:  # record what each cut would send
        b.forward = lambda x, seen=seen: seen.append(x.detach().clone()) or x
    inputs, labels, ids = next(iter(loop.batches()))
    loop.model.eval()
    with torch.no_grad():
        loop.loss_fn(inputs, labels)
    placement.detach(bounds)
    return seen


def run() -> list[dict]:
    rows = []
    for family in ("cv", "nlp"):
        tensors = cut_tensors(family)
        for spec in SPECS:
            sig = err = 0.0
            for x in tensors:
                x_hat, _ = compression.build(spec).roundtrip(x)
                s, e = energies(x, x_hat)
                sig, err = sig + float(s), err + float(e)
            bits = sum(compression.build(spec).bits(x.shape) for x in tensors) / sum(x.numel() for x in tensors)
            rows.append({"family": family, "spec": spec, "snr_db": snr_from_energy(sig, err), "bits": bits,
                         "cuts": [list(x.shape) for x in tensors]})  # fmt: skip
    table = Table(title="SNR on the defaults' real cut tensors (one training batch, every cut)")
    for col in ("family", "spec", "SNR dB", "bits/value"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["family"], r["spec"], f"{r['snr_db']:.1f}", f"{r['bits']:.2f}")
    Console(width=120).print(table)
    return rows
