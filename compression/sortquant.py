"""Sort quantization: 2^s equal-count groups by value rank, each with its own min/step at b bits.

Group edges are the k/2^s quantiles of the tensor. Up to 2^16 values they are exact; above,
they are estimated from a fixed pseudo-random subsample of 2^16 values (no full sort on the
hot path). Group g holds the values in [edge_g, edge_{g+1}], so its min/step come from the
edges alone: the table on the wire is the 2^s + 1 edges (fp32), and every value is sent as
s group bits + b level bits. ``reference.sortquant_exact`` is the full-sort version that the
tests hold the estimate to (MSE within 3%).
"""

from __future__ import annotations

import torch

from .base import Compressor, Lazy, check_finite
from .payload import pack, unpack
from .uniform import dequantize, levels, quantize, safe_step

SAMPLE = 1 << 16
_sample_cache: dict[tuple[int, str], torch.Tensor] = {}


def sample_index(n: int, device) -> torch.Tensor:
    key = (n, str(device))
    if key not in _sample_cache:
        g = torch.Generator().manual_seed(n)
        _sample_cache[key] = torch.randint(0, n, (SAMPLE,), generator=g).to(device)
        if len(_sample_cache) > 64:
            _sample_cache.pop(next(iter(_sample_cache)))
    return _sample_cache[key]


def group_edges(xf: torch.Tensor, s: int) -> torch.Tensor:
    """[2^s + 1] float32 edges: min, the interior quantiles, max."""
    lo, hi = torch.aminmax(xf)
    check_finite(xf, lo, hi)
    k = 1 << s
    if k == 1:
        return torch.stack([lo, hi])
    sample = xf if xf.numel() <= SAMPLE else xf[sample_index(xf.numel(), xf.device)]
    q = torch.arange(1, k, device=xf.device, dtype=torch.float32) / k
    inner = torch.quantile(sample, q).clamp(lo, hi)
    return torch.cat([lo.view(1), inner, hi.view(1)])


def _fused_nearest(x, edges, b: int, k: int):
    """One fused kernel for k <= 16 groups: a compare chain picks each value's min/step."""
    steps = safe_step(edges[:-1], edges[1:], b)
    lo = edges[0].expand_as(x)
    st = steps[0].expand_as(x)
    for j in range(1, k):
        above = x > edges[j]
        lo = torch.where(above, edges[j], lo)
        st = torch.where(above, steps[j], st)
    return dequantize(quantize(x, lo, st, b), lo, st)


_fused = Lazy(_fused_nearest)


class SortQuant(Compressor):
    def __init__(self, spec):
        super().__init__(spec)
        self.b = spec.params["b"]
        self.s = spec.params["s"]
        self.stochastic = spec.params["round"] == "stochastic"

    def _array_bits(self, shape):
        return [32 * ((1 << self.s) + 1), shape.numel() * (self.b + self.s)]

    def _codes(self, xf):
        edges = group_edges(xf, self.s)
        steps = safe_step(edges[:-1], edges[1:], self.b)
        g = torch.bucketize(xf, edges[1:-1])
        lo, st = edges[g], steps[g]
        noise = torch.rand_like(xf) if self.stochastic else None
        return g, quantize(xf, lo, st, self.b, noise), lo, st, edges

    def _roundtrip(self, xf, shape):
        k = 1 << self.s
        if not self.stochastic and k <= 16:
            return _fused(xf.numel(), xf, group_edges(xf, self.s), self.b, k)
        _, q, lo, st, _ = self._codes(xf)
        return dequantize(q, lo, st)

    def _encode(self, xf, shape):
        g, q, _, _, edges = self._codes(xf)
        codes = (g.to(torch.int32) << self.b) | q.to(torch.int32)
        return [edges, pack(codes, self.b + self.s)]

    def _decode(self, arrays, shape):
        edges, packed = arrays
        codes = unpack(packed, shape.numel(), self.b + self.s)
        g = codes >> self.b
        q = (codes & levels(self.b)).to(torch.float32)
        steps = safe_step(edges[:-1], edges[1:], self.b)
        return dequantize(q, edges[g], steps[g])
