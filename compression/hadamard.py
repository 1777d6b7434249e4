"""Rotated low-bit codes (TAH-Quant's tiles, arXiv 2506.01352): the feature dimension (channels
of a [B,C,H,W] activation, the hidden size of a [B,T,H] one) cut into tiles of 64 values, each
quantized at B bits from its own min and step (fp16 each). A tile whose largest |value| is at
least twice its second largest (``rotate=outlier``; ``rotate=all``: every tile) first swaps that
value to the tile's first position (the pivot) and is rotated by the orthonormal Walsh-Hadamard
transform, which spreads the outlier over the tile as a constant offset the min-max grid absorbs,
so a few bits cover the rest. The rotation is a fast butterfly (log2(64) add/subtract passes),
never a dense matrix. Wire: per tile its min and step (fp16), its rotate flag (1 bit, outlier
mode), its pivot (log2(tile) bits), and B-bit codes.
"""

from __future__ import annotations

import math

import torch

from .base import Compressor, Lazy, check_finite
from .features import around_features, as_rows, feature_dim, from_rows, like
from .payload import pack, unpack
from .uniform import fp16_down, fp16_up, levels

TINY = 2.0**-24  # the smallest fp16 step


def _sylvester(r: int) -> torch.Tensor:
    h = torch.ones(1, 1)
    while h.shape[0] < r:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


_FACTORS: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def factors(t: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """H_t = H_a (x) H_b with a * b = t, a and b about sqrt(t): two small +-1 matrices (8 x 8 for
    a 64-wide tile) instead of the dense t x t one."""
    key = (t, str(device))
    if key not in _FACTORS:
        k = int(math.log2(t))
        _FACTORS[key] = (_sylvester(1 << (k - k // 2)).to(device), _sylvester(1 << (k // 2)).to(device))
    return _FACTORS[key]


def fwht(v: torch.Tensor) -> torch.Tensor:
    """Orthonormal Walsh-Hadamard transform of the rows of v [T, t] (t a power of 2), its own
    inverse: the tile as an a x b matrix V, then H_a V H_b (two batched products with the
    Kronecker factors: O(t (a + b)) a tile, never a t x t matrix)."""
    t = v.shape[-1]
    ha, hb = factors(t, v.device)
    out = (ha @ v.reshape(-1, ha.shape[0], hb.shape[0]) @ hb).reshape(v.shape)
    return out * (1.0 / math.sqrt(t))


def tile_of(features: int, tile: int) -> int:
    """The largest power of two that divides the feature count, at most ``tile``."""
    t = 1
    while t * 2 <= tile and features % (t * 2) == 0:
        t *= 2
    return t


def _scan(v: torch.Tensor):
    """Per tile of a [A, G, t, S] view (tiles along dim 2): min, max and whether it has an outlier
    (its largest |value| at least twice every other, i.e. the only one above half the largest),
    kept as [A, G, 1, S]; one pass over the values, in their own memory order."""
    mag = v.abs()
    m1 = mag.amax(2, keepdim=True)
    outlier = ((mag > m1 / 2).sum(2, keepdim=True) == 1) & (m1 > 0)
    return v.amin(2, keepdim=True), v.amax(2, keepdim=True), outlier


_scan_fused = Lazy(_scan)


def _grid(lo, hi, b: int):
    """fp16 min (rounded down) and step (rounded up, at least the smallest fp16 step)."""
    lo16 = fp16_down(lo)
    step = fp16_up((hi - lo16) / levels(b))
    step = torch.where(hi > lo16, torch.maximum(step, torch.full_like(step, TINY)), torch.ones_like(step))
    return lo16, step


def _codes(v, lo16, step, b: int):
    """B-bit codes of v on its tile's grid (tables shaped to broadcast against v)."""
    return torch.round((v - lo16) / step).clamp(0, levels(b))


def _qdq(v, lo16, step, b: int):
    return _codes(v, lo16, step, b) * step + lo16


_qdq_fused = Lazy(_qdq)


def tile_view(x: torch.Tensor, t: int):
    """x as [A, G, t, S] tiles along dim 2 without a transposing copy (a free view of a contiguous
    or feature-innermost tensor), and the function that gives a result in that view x's shape."""
    f = feature_dim(x.dim())
    moved = x.movedim(f, -1)
    if moved.is_contiguous():  # channels_last, or the feature dim already last
        return moved.view(-1, moved.shape[-1] // t, t, 1), lambda o: o.view(moved.shape).movedim(-1, f)
    a, c, s = around_features(x.shape)
    return x.contiguous().view(a, c // t, t, s), lambda o: o.view(x.shape)


def _rotated(tiles: torch.Tensor, b: int):
    """Tiles [n, t] to be rotated: (pivots, the rotated tiles, their fp16 min and step [n])."""
    pivot = tiles.abs().argmax(dim=1)
    r = rotate(tiles, pivot)
    return (pivot, r, *_grid(r.amin(dim=1), r.amax(dim=1), b))


def swap(v: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """Each row with its first value and the one at ``pivot`` exchanged (its own inverse)."""
    pos = torch.arange(v.shape[1], device=v.device)[None, :]
    at_pivot = v.gather(1, pivot[:, None])
    first = v[:, :1]
    return torch.where(pos == 0, at_pivot, torch.where(pos == pivot[:, None], first, v))


def rotate(v: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """The pivot swapped to the front, then the Walsh-Hadamard transform."""
    return fwht(swap(v, pivot))


def unrotate(r: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    return swap(fwht(r), pivot)


class Hadamard(Compressor):
    layout_free = False  # works on tiles of the feature dim; its own layout handling below

    def __init__(self, spec):
        super().__init__(spec)
        p = spec.params
        self.b, self.tile, self.all = p["b"], p["tile"], p["rotate"] == "all"

    def describe(self):
        return {"bits": self.b}

    def _t(self, shape: torch.Size) -> int:
        return tile_of(shape[feature_dim(len(shape))], self.tile) if len(shape) else 1

    def _array_bits(self, shape):
        t = self._t(shape)
        tiles = shape.numel() // t
        flags = 0 if self.all else tiles
        return [2 * 16 * tiles, flags, tiles * max(int(math.log2(t)), 0), shape.numel() * self.b]

    def _tiles(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """x with its feature dim last (a free view for channels_last), as tiles [T, t]."""
        t = self._t(x.shape)
        return as_rows(x, t), t

    def _flags(self, outlier: torch.Tensor, t: int) -> torch.Tensor:
        """Which tiles are rotated: those with an outlier (every one, ``rotate=all``); none of width 1."""
        if t == 1:
            return torch.zeros_like(outlier)
        return torch.ones_like(outlier) if self.all else outlier

    def _plan(self, v: torch.Tensor, x: torch.Tensor):
        """For tiles [T, t]: (rotated rows, the rotated tiles, every tile's pivot (0 where not
        rotated), fp16 min and step (rotated tiles: after the rotation), and rotate flag)."""
        t = v.shape[1]
        lo, hi, outlier = (a.view(-1) for a in _scan_fused(v.numel(), v.view(-1, 1, t, 1)))
        check_finite(x, lo, hi)
        lo16, step = _grid(lo, hi, self.b)
        flags = self._flags(outlier, t)
        rows = flags.nonzero().view(-1)
        pivot, rotated = torch.zeros(v.shape[0], dtype=torch.int64, device=v.device), None
        if rows.numel():
            pivot_r, rotated, r_lo16, r_step = _rotated(v.index_select(0, rows), self.b)
            pivot.index_copy_(0, rows, pivot_r)
            lo16, step = lo16.index_copy(0, rows, r_lo16), step.index_copy(0, rows, r_step)
        return rows, rotated, pivot, lo16, step, flags

    def roundtrip(self, x):
        """The training path: tiles read where they lie (no transposing copies), every tile
        quantized as if unrotated in one fused pass, then the few rotated tiles done again."""
        x = x.detach()
        if x.numel() == 0:
            return x.clone(), 0
        t = self._t(x.shape)
        v, back = tile_view(x.to(torch.float32), t)
        lo, hi, outlier = _scan_fused(v.numel(), v)
        check_finite(x, lo, hi)
        lo16, step = _grid(lo, hi, self.b)
        out = _qdq_fused(v.numel(), v, lo16, step, self.b)
        a, g, s = self._flags(outlier, t).squeeze(2).nonzero(as_tuple=True)
        if a.numel():  # rotated tiles are quantized in their rotated basis, on its own grid
            pivot, r, r_lo16, r_step = _rotated(v[a, g, :, s], self.b)
            out[a, g, :, s] = unrotate(_qdq(r, r_lo16[:, None], r_step[:, None], self.b), pivot)
        return like(back(out), x), self.bits(x.shape)

    def encode(self, x):
        from .payload import Payload

        x = x.detach()
        if x.numel() == 0:
            return Payload(tuple(x.shape), x.dtype, [])
        v, t = self._tiles(x.to(torch.float32))
        rows, rotated, pivot, lo16, step, flags = self._plan(v, x)
        basis = v.clone()
        if rotated is not None:
            basis.index_copy_(0, rows, rotated)
        q = _codes(basis, lo16[:, None], step[:, None], self.b).to(torch.int64)
        width = int(math.log2(t))
        empty = torch.zeros(0, dtype=torch.uint8)
        arrays = [torch.stack([lo16, step]).to(torch.float16).reshape(-1),
                  empty if self.all else pack(flags.to(torch.int64), 1),
                  pack(pivot, width) if width else empty, pack(q, self.b)]  # fmt: skip
        return Payload(tuple(x.shape), x.dtype, [a.reshape(-1).contiguous().cpu() for a in arrays])

    def decode(self, payload, device=None):
        shape = torch.Size(payload.shape)
        if shape.numel() == 0:
            return torch.empty(shape, dtype=payload.dtype, device=device)
        tables, flag_bytes, pivot_bytes, codes = [a.to(device) for a in payload.arrays]
        t = self._t(shape)
        n_tiles, width = shape.numel() // t, int(math.log2(t))
        lo16, step = tables.float().view(2, n_tiles).unbind(0)
        if self.all:
            flags = torch.ones(n_tiles, dtype=torch.bool, device=tables.device)
        else:
            flags = unpack(flag_bytes, n_tiles, 1).bool()
        if t == 1:
            flags = torch.zeros_like(flags)
        pivot = unpack(pivot_bytes, n_tiles, width) if width else torch.zeros(n_tiles, dtype=torch.int64)
        q = unpack(codes, shape.numel(), self.b).to(torch.float32).view(n_tiles, t)
        out = q * step[:, None] + lo16[:, None]
        rows = flags.nonzero().view(-1)
        if rows.numel():
            out.index_copy_(0, rows, unrotate(out.index_select(0, rows), pivot.to(out.device).index_select(0, rows)))
        return from_rows(out, shape).contiguous().to(payload.dtype)
