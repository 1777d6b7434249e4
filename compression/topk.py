"""Top-k pruning: keep the round(r*n) largest |x| (at least one), zero the rest.

Payload: the kept values (fp32) and their positions, as whichever is cheaper of an n-bit
bitmap and k indices of ceil(log2 n) bits.
"""

from __future__ import annotations

import math

import torch

from .base import Compressor, check_finite
from .layout import like_strides, memory_flat
from .payload import header_nbytes, pack, unpack
from .sample import SAMPLE, sample_index


def kept(n: int, r: float) -> int:
    return min(n, max(1, round(r * n)))


def index_bits(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


class TopK(Compressor):
    def __init__(self, spec):
        super().__init__(spec)
        self.r = spec.params["r"]

    def describe(self):
        return {"prune_ratio": self.r}

    def default_backward(self) -> str:
        return "mask"  # the gradient at the positions the forward kept

    def send(self, x, ids=None):
        """The kept positions (in x's memory order) go to a paired backward (``mask``)."""
        flat, _, restore = memory_flat(x.detach())
        xf = flat.float()
        idx = self.select(xf)
        return restore(scatter_kept(xf, idx).to(x.dtype)), self.payload_nbytes(x.shape), idx

    def _position_bits(self, n: int, k: int) -> tuple[str, int]:
        as_indices = k * index_bits(n)
        return ("bitmap", n) if n <= as_indices else ("indices", as_indices)

    def _array_bits(self, shape):
        n = shape.numel()
        k = kept(n, self.r)
        return [32 * k, self._position_bits(n, k)[1]]

    def select(self, xf: torch.Tensor) -> torch.Tensor:
        """Positions of the kept values (unsorted)."""
        lo, hi = torch.aminmax(xf)
        check_finite(xf, lo, hi)
        return top_magnitudes(xf.abs(), kept(xf.numel(), self.r))

    def _roundtrip(self, xf, layout):
        return scatter_kept(xf, self.select(xf))

    def _encode(self, xf, layout):
        n = xf.numel()
        idx = self.select(xf).sort().values
        mode, _ = self._position_bits(n, idx.numel())
        if mode == "bitmap":
            bitmap = torch.zeros(n, dtype=torch.int32, device=xf.device)
            bitmap[idx] = 1
            positions = pack(bitmap, 1)
        else:
            positions = pack(idx, index_bits(n))
        return [xf[idx], positions]

    def _decode(self, arrays, shape):
        values, positions = arrays
        n = shape.numel()
        mode, _ = self._position_bits(n, values.numel())
        if mode == "bitmap":
            idx = unpack(positions, n, 1).nonzero().view(-1)
        else:
            idx = unpack(positions, values.numel(), index_bits(n))
        out = torch.zeros(n, dtype=torch.float32, device=values.device)
        out[idx] = values.float()
        return out


def top_magnitudes(a: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the k largest values of a (exactly k). On large tensors a threshold
    estimated from a subsample first cuts the candidates to ~k, then an exact top-k runs on
    those alone; if the estimate keeps too few it falls back to the full top-k."""
    n = a.numel()
    if n >= 16 * SAMPLE and k <= 0.9 * n:
        keep = min(1.0, (k + 4 * math.sqrt(k) + 0.02 * n) / n)  # slack: >4 sigma + 2%
        sample = a[sample_index(n, a.device)]
        rank = max(1, min(SAMPLE, round((1 - keep) * SAMPLE)))
        t = sample.kthvalue(rank).values
        cand = (a >= t).nonzero().view(-1)
        if cand.numel() >= k:
            return cand[torch.topk(a[cand], k, sorted=False).indices]
    return torch.topk(a, k, sorted=False).indices


def scatter_kept(xf: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(xf)
    out[idx] = xf[idx]
    return out


class Mask(Compressor):
    """Backward of top-k: the gradient at the positions the forward kept, fp32 values only
    (the receiver knows the positions already)."""

    backward_only = True
    pairs_with = "topk"

    def send_back(self, g, saved, layout):
        """saved: the forward's kept positions in its memory order; g is viewed in that layout."""
        g = like_strides(g, *layout)
        flat, _, restore = memory_flat(g)
        return restore(scatter_kept(flat, saved)), header_nbytes(g.dim(), 1) + 4 * saved.numel()

    def roundtrip(self, x):
        raise TypeError("'mask' is only a backward spec for a topk forward (it needs its positions)")

    encode = roundtrip
