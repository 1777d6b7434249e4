"""1-D k-means (Lloyd) with 2^b centroids, initialized at distinct quantiles.

Lloyd runs on a 2^16-bin histogram of the tensor (one pass, ``torch.histc``) through prefix
sums of its counts and mass: each iteration costs O(k log bins), so 20 or 50 iterations cost
about the same as one. Values are then sent
to their nearest centroid. ``iters=converge`` iterates until the centroids stop moving: the
Lloyd-Max quantizer. Payload: the fp32 codebook and b-bit codes.

The start is distinct: plain quantiles put several centroids on one point mass (the zeros
of a ReLU output), and those copies only drift apart by float rounding, wasting codes.
Each bin is claimed once; centroids left over go to the quantiles of the mass not yet
claimed, round after round, spread as the density to the 1/3 (the high-resolution
optimum of Panter and Dite), which leaves Lloyd little to fix in 20 iterations.
"""

from __future__ import annotations

import torch

from .base import Compressor, Lazy, check_finite
from .payload import pack, unpack

BINS = 1 << 16
MAX_ITERS = 10_000


def codebook(xf: torch.Tensor, k: int, iters: int | str) -> torch.Tensor:
    lo, hi = torch.aminmax(xf)
    check_finite(xf, lo, hi)
    if not bool(hi > lo):
        return lo.expand(k).clone()
    hist = torch.histc(xf, BINS, float(lo), float(hi)).double()
    width = (hi.double() - lo.double()) / BINS
    centers = lo.double() + (torch.arange(BINS, dtype=torch.float64, device=xf.device) + 0.5) * width
    c = distinct_start(hist, centers, k)
    # prefix sums of counts and mass over the (sorted) bins: a cluster is a run of bins between
    # two midpoints, so each Lloyd iteration costs O(k log bins), not O(bins)
    zero = torch.zeros(1, dtype=torch.float64, device=xf.device)
    cum_n = torch.cat([zero, hist.cumsum(0)])
    cum_m = torch.cat([zero, (hist * centers).cumsum(0)])
    last = torch.tensor([BINS], device=xf.device)
    n_iter = MAX_ITERS if iters == "converge" else int(iters)
    tol = 1e-9 * float(hi - lo)
    for _ in range(n_iter):
        ends = torch.cat([torch.searchsorted(centers, (c[1:] + c[:-1]) / 2, right=True), last])
        starts = torch.cat([last.new_zeros(1), ends[:-1]])
        cnt = cum_n[ends] - cum_n[starts]
        tot = cum_m[ends] - cum_m[starts]
        new = torch.where(cnt > 0, tot / cnt.clamp(min=1e-300), c).sort().values
        moved = float((new - c).abs().max())
        c = new
        if iters == "converge" and moved <= tol:
            break
    return c.float()


def distinct_start(hist: torch.Tensor, centers: torch.Tensor, k: int) -> torch.Tensor:
    """k sorted bin centers at quantiles of the histogram, no bin twice (fewer distinct
    non-empty bins than k: those bins, the last repeated)."""
    taken = torch.zeros_like(hist, dtype=torch.bool)
    left = hist
    for _ in range(k):  # rounds, each O(bins); a point mass takes one round, not one per copy
        need = k - int(taken.sum())
        total = float(left.sum())
        if need <= 0 or total <= 0:
            break
        w = left.pow(1 / 3)  # optimal centroid density is p^(1/3) (Panter-Dite): a start near Lloyd-Max
        cdf = w.cumsum(0) / float(w.sum())
        target = (torch.arange(need, dtype=torch.float64, device=hist.device) + 0.5) / need
        taken[torch.searchsorted(cdf, target).clamp(max=hist.numel() - 1)] = True
        left = torch.where(taken, torch.zeros_like(hist), hist)
    c = centers[taken]
    if c.numel() < k:
        c = torch.cat([c, c[-1:].expand(k - c.numel())])
    return c


def _assign(x, cb):
    """Nearest centroid: index = number of midpoints below x."""
    return torch.bucketize(x, (cb[1:] + cb[:-1]) / 2)


def _fused_small(x, cb, k: int):
    mids = (cb[1:] + cb[:-1]) / 2
    out = cb[0].expand_as(x)
    for j in range(1, k):
        out = torch.where(x > mids[j - 1], cb[j], out)
    return out


_fused = Lazy(_fused_small)


class KMeans(Compressor):
    def __init__(self, spec):
        super().__init__(spec)
        self.b = spec.params["b"]
        self.iters = spec.params["iters"]

    def describe(self):
        return {"bits": self.b, "iters": self.iters}

    def _array_bits(self, shape):
        return [32 * (1 << self.b), shape.numel() * self.b]

    def _roundtrip(self, xf, layout):
        k = 1 << self.b
        cb = codebook(xf, k, self.iters)
        if k <= 16:
            return _fused(xf.numel(), xf, cb, k)
        return cb[_assign(xf, cb)]

    def _encode(self, xf, layout):
        cb = codebook(xf, 1 << self.b, self.iters)
        return [cb, pack(_assign(xf, cb), self.b)]

    def _decode(self, arrays, shape):
        cb, packed = arrays
        return cb[unpack(packed, shape.numel(), self.b)]
