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
from .layout import Layout
from .payload import pack, unpack
from .sample import subsample
from .uniform import dequantize, levels, quantize, safe_step


def group_edges(xf: torch.Tensor, s: int, layout: Layout | None = None, clip: float = 100.0) -> torch.Tensor:
    """[2^s + 1] float32 edges: min, the interior quantiles, max (with ``clip`` < 100 the outer
    edges are the (100-clip)-th and clip-th percentiles, and values outside are clamped)."""
    lo, hi = torch.aminmax(xf)
    check_finite(xf, lo, hi)
    k = 1 << s
    if k == 1 and clip >= 100:
        return torch.stack([lo, hi])
    sample = subsample(xf, layout)
    q = torch.arange(1, k, device=xf.device, dtype=torch.float32) / k
    if clip < 100:
        outer = torch.tensor([1 - clip / 100, clip / 100], device=xf.device)
        q = torch.cat([outer[:1], q, outer[1:]])
        return torch.quantile(sample, q).clamp(lo, hi)
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
        self.clip = float(spec.params["clip"])

    def describe(self):
        return {"bits": self.b + self.s, "split_bits": self.s}

    def _array_bits(self, shape):
        return [32 * ((1 << self.s) + 1), shape.numel() * (self.b + self.s)]

    def _codes(self, xf, layout):
        edges = group_edges(xf, self.s, layout, self.clip)
        steps = safe_step(edges[:-1], edges[1:], self.b)
        g = torch.bucketize(xf, edges[1:-1])
        lo, st = edges[g], steps[g]
        noise = torch.rand_like(xf) if self.stochastic else None
        return g, quantize(xf, lo, st, self.b, noise), lo, st, edges

    def _roundtrip(self, xf, layout):
        k = 1 << self.s
        if not self.stochastic and k <= 16:
            return _fused(xf.numel(), xf, group_edges(xf, self.s, layout, self.clip), self.b, k)
        _, q, lo, st, _ = self._codes(xf, layout)
        return dequantize(q, lo, st)

    def _encode(self, xf, layout):
        g, q, _, _, edges = self._codes(xf, layout)
        codes = (g.to(torch.int32) << self.b) | q.to(torch.int32)
        return [edges, pack(codes, self.b + self.s)]

    def _decode(self, arrays, shape):
        edges, packed = arrays
        codes = unpack(packed, shape.numel(), self.b + self.s)
        g = codes >> self.b
        q = (codes & levels(self.b)).to(torch.float32)
        steps = safe_step(edges[:-1], edges[1:], self.b)
        return dequantize(q, edges[g], steps[g])
