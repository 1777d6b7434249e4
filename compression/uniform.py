"""Uniform quantization at B bits: per tensor, per channel (dim 1) or per 128 values.

``range=minmax`` (the study's): 2^B levels from the group's min to its max; zero is on the
grid only by chance. ``range=absmax``: symmetric codes -L..L (L = 2^(B-1) - 1) times
max|x| / L, so zero is exactly a code. ``clip=P`` takes the range from the P-th percentile
(minmax: the (100-P)-th and P-th; absmax: of |x|) of the fixed subsample that sort
quantization uses, and clamps what lies outside. Rounding is to nearest or stochastic.
"""

from __future__ import annotations

import torch

from .base import Compressor, Lazy, check_finite
from .layout import Layout
from .payload import pack, unpack
from .sample import subsample

BLOCK = 128


def levels(b: int) -> int:
    return (1 << b) - 1


def half_levels(b: int) -> int:
    """L: absmax codes run over -L..L (2L + 1 <= 2^B values)."""
    return (1 << (b - 1)) - 1


def safe_step(lo: torch.Tensor, hi: torch.Tensor, b: int) -> torch.Tensor:
    step = (hi - lo) / levels(b)
    return torch.where(step > 0, step, torch.ones_like(step))


def quantize(x, lo, step, b: int, noise=None):
    """Integer-valued float codes in [0, 2^b - 1]: round to nearest, or stochastic with noise."""
    t = (x - lo) / step
    q = torch.round(t) if noise is None else torch.floor(t + noise)
    return q.clamp_(0, levels(b))


def dequantize(q, lo, step):
    return q * step + lo


def quantize_sym(x, step, lim: int, noise=None):
    """Symmetric integer codes in [-lim, lim]; 0 maps to 0 exactly."""
    t = x / step
    q = torch.round(t) if noise is None else torch.floor(t + noise)
    return q.clamp_(-lim, lim)


def _fused_tensor(x, b: int):
    lo, hi = torch.aminmax(x)
    step = safe_step(lo, hi, b)
    return dequantize(quantize(x, lo, step, b), lo, step), lo, hi


def _fused_given(x, lo, step, b: int):
    return dequantize(quantize(x, lo, step, b), lo, step)


def _fused_sym(x, step, lim: int):
    return quantize_sym(x, step, lim) * step


_fused = Lazy(_fused_tensor)
_fused_minmax = Lazy(_fused_given)
_fused_absmax = Lazy(_fused_sym)


def fp16_down(v: torch.Tensor) -> torch.Tensor:
    """Largest fp16 value <= v (as float32), so that a stored minimum never exceeds the data."""
    h = v.clamp(-65504, 65504).half()
    below = torch.nextafter(h, torch.full_like(h, -torch.inf))
    return torch.where(h.float() > v, below, h).float()


def fp16_up(v: torch.Tensor) -> torch.Tensor:
    h = v.clamp(max=65504).half()
    above = torch.nextafter(h, torch.full_like(h, torch.inf))
    return torch.where(h.float() < v, above, h).float()


class Uniform(Compressor):
    def __init__(self, spec):
        super().__init__(spec)
        p = spec.params
        self.b = p["b"]
        self.group = p["group"]
        self.stochastic = p["round"] == "stochastic"
        self.absmax = p["range"] == "absmax"
        self.clip = float(p["clip"])
        self.layout_free = self.group != "block128"

    def describe(self):
        return {"bits": self.b}

    @property
    def _table_rows(self) -> int:
        return 1 if self.absmax else 2  # absmax: step; minmax: min and step

    def _groups(self, shape: torch.Size) -> int:
        n = shape.numel()
        if self.group == "tensor":
            return 1
        if self.group == "channel":
            return shape[1] if len(shape) >= 2 else 1
        return -(-n // BLOCK)

    def _view(self, xf: torch.Tensor, layout: Layout) -> torch.Tensor:
        """xf viewed as [rows, G, cols] so that one group is one [:, g, :] slice."""
        if self.group == "tensor":
            return xf.view(1, 1, -1)
        if self.group == "channel":
            return layout.channel_view(xf)
        n = xf.numel()
        pad = (-n) % BLOCK
        if pad:  # pad with the last value: it leaves the last block's range as is
            xf = torch.cat([xf, xf[-1:].expand(pad)])
        return xf.view(1, -1, BLOCK)

    def _array_bits(self, shape):
        table_bits = 16 if self.group == "block128" else 32
        return [self._table_rows * self._groups(shape) * table_bits, shape.numel() * self.b]

    def _tables(self, v: torch.Tensor, xf: torch.Tensor, layout: Layout):
        """(lo, step) per group as [1, G, 1]; lo is None for absmax."""
        lo = v.amin(dim=(0, 2), keepdim=True)
        hi = v.amax(dim=(0, 2), keepdim=True)
        check_finite(xf, lo, hi)
        if self.clip < 100:  # group=tensor only (the spec says so)
            q = torch.tensor([1 - self.clip / 100, self.clip / 100], device=xf.device)
            s = subsample(xf, layout)
            if self.absmax:
                hi = torch.quantile(s.abs(), q[1]).clamp(max=torch.maximum(-lo, hi)).view(1, 1, 1)
            else:
                lo, hi = (torch.quantile(s, q).clamp(lo.view(()), hi.view(())).view(2, 1, 1, 1)).unbind(0)
        if self.absmax:
            amax = torch.maximum(-lo, hi) if self.clip >= 100 else hi
            if self.group == "block128":
                amax = fp16_up(amax)
            step = amax / half_levels(self.b)
            if self.group == "block128":
                step = fp16_up(step)
            return None, torch.where(step > 0, step, torch.ones_like(step))
        if self.group == "block128":
            lo = fp16_down(lo)
            step = fp16_up((hi - lo) / levels(self.b))
            tiny = torch.tensor(2.0**-24)
            step = torch.where(hi > lo, torch.maximum(step, tiny), torch.ones_like(step))
        else:
            step = safe_step(lo, hi, self.b)
        return lo, step

    def _codes(self, xf, layout):
        """Unsigned codes in [0, 2^b - 1], lo (None for absmax) and step, in the group view."""
        v = self._view(xf, layout)
        lo, step = self._tables(v, xf, layout)
        noise = torch.rand_like(v) if self.stochastic else None
        if self.absmax:
            lim = half_levels(self.b)
            return quantize_sym(v, step, lim, noise) + lim, lo, step
        return quantize(v, lo, step, self.b, noise), lo, step

    def _values(self, q, lo, step):
        if self.absmax:
            return (q - half_levels(self.b)) * step
        return dequantize(q, lo, step)

    def _roundtrip(self, xf, layout):
        n = xf.numel()
        if self.group == "tensor" and not self.stochastic:
            if not self.absmax and self.clip >= 100:
                x_hat, lo, hi = _fused(n, xf, self.b)
                check_finite(xf, lo, hi)
                return x_hat
            lo, step = self._tables(xf.view(1, 1, -1), xf, layout)
            if self.absmax:
                return _fused_absmax(n, xf, step.view(()), half_levels(self.b))
            return _fused_minmax(n, xf, lo.view(()), step.view(()), self.b)
        q, lo, step = self._codes(xf, layout)
        if self.absmax:
            q = q - half_levels(self.b)
            return (q * step).reshape(-1)[:n]
        return dequantize(q, lo, step).reshape(-1)[:n]

    def _encode(self, xf, layout):
        q, lo, step = self._codes(xf, layout)
        tdt = torch.float16 if self.group == "block128" else torch.float32
        rows = [step.reshape(-1)] if self.absmax else [lo.reshape(-1), step.reshape(-1)]
        tables = torch.stack(rows).to(tdt)
        codes = q.reshape(-1)[: xf.numel()].to(torch.int32)
        return [tables, pack(codes, self.b)]

    def _decode(self, arrays, shape):
        tables, packed = arrays
        n = shape.numel()
        g = self._groups(shape)
        t = tables.float().view(self._table_rows, g)
        step = t[-1].view(1, g, 1)
        lo = None if self.absmax else t[0].view(1, g, 1)
        q = unpack(packed, n, self.b).to(torch.float32)
        v = self._view(q, Layout(shape))
        return self._values(v, lo, step).reshape(-1)[:n]
