"""The fixed pseudo-random subsample that estimates quantiles and thresholds of a tensor
(sort quantization's group edges, clipping percentiles, top-k's candidate threshold)
without a full sort. Positions are logical, so a tensor gives the same subsample whatever
its memory layout; below ``SAMPLE`` values the whole tensor is used."""

from __future__ import annotations

import torch

from .layout import Layout

SAMPLE = 1 << 16
_sample_cache: dict[tuple[int, str], torch.Tensor] = {}


def sample_index(n: int, device) -> torch.Tensor:
    """SAMPLE logical positions in [0, n), the same for every tensor of n values."""
    key = (n, str(device))
    if key not in _sample_cache:
        g = torch.Generator().manual_seed(n)
        _sample_cache[key] = torch.randint(0, n, (SAMPLE,), generator=g).to(device)
        if len(_sample_cache) > 64:
            _sample_cache.pop(next(iter(_sample_cache)))
    return _sample_cache[key]


def subsample(xf: torch.Tensor, layout: Layout | None = None) -> torch.Tensor:
    """``xf`` (memory order of ``layout``) itself if small, else the values at the fixed positions."""
    n = xf.numel()
    if n <= SAMPLE:
        return xf
    idx = sample_index(n, xf.device)
    return xf[layout.positions(idx) if layout is not None else idx]


__all__ = ["SAMPLE", "sample_index", "subsample"]
