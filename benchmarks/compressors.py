"""Compressor speed and quality on the seed's tensor shapes, as ratios taken in one run.

time / clone: the compressor's roundtrip time over ``x.clone()`` time, both the best of R
runs measured here, now. SNR: 10 log10(|x|^2 / |x - x_hat|^2). bits/value: payload bits
(codes + tables, header aside) per value.
"""

from __future__ import annotations

import time

import torch
from rich.console import Console
from rich.table import Table

import compression
from compression.boundary import snr_db
from compression.reference import sortquant_seed_style

SHAPES = [(16, 24, 56, 56), (8, 128, 768), (256, 1280, 7, 7)]
SPECS = [
    "uniform:b=8",
    "uniform:b=4",
    "uniform:b=8,group=channel",
    "uniform:b=8,group=block128",
    "sortquant:b=6,s=2",
    "sortquant:b=2,s=2",
    "sortquant:b=3,s=3",
    "sortquant:b=12,s=4",
    "topk:r=0.1",
    "topk:r=0.5",
    "kmeans:b=4,iters=20",
    "kmeans:b=4,iters=50",
    "kmeans:b=6,iters=50",
    "uniform:b=4,range=absmax",
    "uniform:b=4,clip=99.9",
    "delta:b=3",
    "fp8:fmt=e4m3",
    "fp8:fmt=e5m2,scale=block128",
    "hadamard:b=4",
    "hadamard:b=3",
    "lowrank:r=8",
]
TARGETS = {
    "uniform:b=8": 2,
    "sortquant:b=6,s=2": 4,
    "sortquant:b=2,s=2": 4,
    "kmeans:b=4,iters=20": 10,
    "topk:r=0.1": 10,
    "uniform:b=4,range=absmax": 2,
    "uniform:b=4,clip=99.9": 2,
    "delta:b=3": 2,
    "fp8:fmt=e4m3": 1.5,
    "hadamard:b=4": 3,
    "hadamard:b=3": 3,
    "lowrank:r=8": 3,
}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def best_time(fn, repeats: int) -> float:
    """Best of ``repeats`` after a warm-up; on a GPU between synchronizes (kernels, not launches)."""
    fn()  # warm-up (and torch.compile on first use)
    best = float("inf")
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - t0)
    return best


def activation_like(shape, device: str = "cpu") -> torch.Tensor:
    """Post-BatchNorm-like data: Gaussian with per-channel scale and offset, plus outliers."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    c = shape[1]
    view = [1, c] + [1] * (len(shape) - 2)
    x = x * torch.rand(c, generator=g).add(0.5).view(view) + torch.randn(c, generator=g).view(view)
    return x.to(device)


def _delta(comp, x, repeats: int):
    """(best time of a later sighting, (reconstruction, what it reconstructs), payload bytes)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.arange(x.shape[0])
    changed = x + 0.1 * x.std() * torch.randn(x.shape, generator=g).to(x.device)
    comp.roundtrip_ids(x, ids)  # the first sighting: exact, fills the buffers
    fresh = compression.build(str(comp.spec))
    fresh.roundtrip_ids(x, ids)
    x_hat, nbytes = fresh.roundtrip_ids(changed, ids)
    t = best_time(lambda: comp.roundtrip_ids(changed, ids), repeats)
    return t, (x_hat, changed), nbytes


def run(shapes=SHAPES, specs=SPECS, repeats: int = 3, reference: bool = True, device: str = "cpu") -> list[dict]:
    console = Console(width=150)
    rows = []
    for shape in shapes:
        x = activation_like(shape, device)
        clone = best_time(lambda x=x: x.clone(), repeats)
        mine = []
        seed_t = None
        if reference:
            seed_t = best_time(lambda x=x: sortquant_seed_style(x, 6, 2), 1)  # the prototype, as it ran
            snr = snr_db(x, sortquant_seed_style(x, 6, 2))
            label = "seed-style sortquant 6+2 (reference)"
            mine.append(dict(shape=list(shape), method=label, x_clone=seed_t / clone, snr=snr, bits=8.0))
        for spec in list(specs) + (["kmeans:b=4,iters=converge"] if reference else []):
            mine.append(_measure(spec, shape, clone, seed_t, repeats, device))
        console.print(_table(shape, clone, mine, x.device))
        rows += mine
    return rows


def _measure(spec: str, shape, clone: float, seed_t: float | None, repeats: int, device: str = "cpu") -> dict:
    """One spec on the shape: time / clone, SNR, bits per value (a stateful method: on a later
    sighting, its buffers read and written)."""
    x = activation_like(shape, device)
    comp = compression.build(spec)
    label = spec + (" (Lloyd-Max reference)" if spec.endswith("converge") else "")
    if comp.stateful:
        t, (x_hat, x), nbytes = _delta(comp, x, repeats)
        bits = nbytes * 8 / x.numel()
        label += " (2nd sighting, 10% change)"
    else:
        t = best_time(lambda c=comp, x=x: c.roundtrip(x), repeats)
        x_hat, raw_bits = comp.roundtrip(x)
        bits = raw_bits / x.numel()
    return dict(
        shape=list(shape),
        method=label,
        x_clone=t / clone,
        snr=snr_db(x, x_hat),
        bits=bits,
        target=TARGETS.get(spec) if tuple(shape) == tuple(SHAPES[-1]) else None,
        speedup=(seed_t / t) if seed_t and spec.startswith("sortquant") else None,
    )


def _table(shape, clone: float, rows: list[dict], device=None) -> Table:
    title = (
        f"x {list(shape)} fp32 on {device}, clone = {clone * 1e3:.2f} ms (compile: {compression.base.compile_mode()})"
    )
    table = Table(title=title)
    for col in ("method", "time/clone", "target", "SNR dB", "bits/value", "vs seed-style"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for r in rows:
        target, sp = r.get("target"), r.get("speedup")
        ok = ""
        if target is not None:
            ok = f"≤{target}x ok" if r["x_clone"] <= target else f"≤{target}x MISSED by {r['x_clone'] / target:.1f}x"
        table.add_row(
            r["method"],
            f"{r['x_clone']:.2f}x",
            ok,
            f"{r['snr']:.1f}",
            f"{r['bits']:.3f}",
            f"{sp:.0f}x faster" if sp else "",
        )
    return table
