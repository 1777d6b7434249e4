"""Slow reference versions, for the benchmark and the tests only (never on the hot path)."""

from __future__ import annotations

import torch

from .uniform import levels, safe_step


def sortquant_seed_style(x: torch.Tensor, b: int, s: int) -> torch.Tensor:
    """As the published prototype does it: full sort, a Python loop over groups, scatter back."""
    xf = x.reshape(-1).float()
    values, order = torch.sort(xf)
    out = torch.empty_like(values)
    for chunk_v, chunk_i in zip(values.chunk(1 << s), order.chunk(1 << s), strict=True):
        lo, hi = chunk_v.min(), chunk_v.max()
        step = safe_step(lo, hi, b)
        q = torch.round((chunk_v - lo) / step).clamp(0, levels(b))
        out[chunk_i] = q * step + lo
    return out.view(x.shape)


def sortquant_exact(x: torch.Tensor, b: int, s: int) -> torch.Tensor:
    """Exact equal-count groups by rank (full sort), each its own min/max; vectorized."""
    xf = x.reshape(-1).float()
    n, k = xf.numel(), 1 << s
    values, order = torch.sort(xf)
    group = torch.arange(n) * k // n
    lo = torch.full((k,), torch.inf).scatter_reduce(0, group, values, "amin")
    hi = torch.full((k,), -torch.inf).scatter_reduce(0, group, values, "amax")
    step = safe_step(lo, hi, b)
    q = torch.round((values - lo[group]) / step[group]).clamp(0, levels(b))
    out = torch.empty_like(values)
    out[order] = q * step[group] + lo[group]
    return out.view(x.shape)
