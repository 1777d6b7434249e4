"""Uniform (min-max) quantization at B bits: per tensor, per channel (dim 1) or per 128 values."""

from __future__ import annotations

import torch

from .base import Compressor, Lazy, check_finite
from .payload import pack, unpack

BLOCK = 128


def levels(b: int) -> int:
    return (1 << b) - 1


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


def _fused_tensor(x, b: int):
    lo, hi = torch.aminmax(x)
    step = safe_step(lo, hi, b)
    return dequantize(quantize(x, lo, step, b), lo, step), lo, hi


_fused = Lazy(_fused_tensor)


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
        self.b = spec.params["b"]
        self.group = spec.params["group"]
        self.stochastic = spec.params["round"] == "stochastic"

    # tables: (lo, step) per group, as a [2, G] float32 (fp16 for block128) array
    def _groups(self, shape: torch.Size) -> int:
        n = shape.numel()
        if self.group == "tensor":
            return 1
        if self.group == "channel":
            return shape[1] if len(shape) >= 2 else 1
        return -(-n // BLOCK)

    def _view(self, xf: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """xf viewed as [rows, G, cols] so that one group is one [:, g, :] slice."""
        if self.group == "tensor":
            return xf.view(1, 1, -1)
        if self.group == "channel":
            if len(shape) < 2:
                return xf.view(1, 1, -1)
            return xf.view(shape[0], shape[1], -1)
        n = xf.numel()
        pad = (-n) % BLOCK
        if pad:  # pad with the last value: it leaves the last block's range as is
            xf = torch.cat([xf, xf[-1:].expand(pad)])
        return xf.view(1, -1, BLOCK)

    def _array_bits(self, shape):
        table_bits = 16 if self.group == "block128" else 32
        return [2 * self._groups(shape) * table_bits, shape.numel() * self.b]

    def _tables(self, v: torch.Tensor, xf: torch.Tensor):
        lo = v.amin(dim=(0, 2), keepdim=True)
        hi = v.amax(dim=(0, 2), keepdim=True)
        check_finite(xf, lo, hi)
        if self.group == "block128":
            lo = fp16_down(lo)
            step = fp16_up((hi - lo) / levels(self.b))
            tiny = torch.tensor(2.0**-24)
            step = torch.where(hi > lo, torch.maximum(step, tiny), torch.ones_like(step))
        else:
            step = safe_step(lo, hi, self.b)
        return lo, step

    def _codes(self, xf, shape):
        v = self._view(xf, shape)
        lo, step = self._tables(v, xf)
        noise = torch.rand_like(v) if self.stochastic else None
        return quantize(v, lo, step, self.b, noise), lo, step

    def _roundtrip(self, xf, shape):
        if self.group == "tensor" and not self.stochastic:
            x_hat, lo, hi = _fused(xf.numel(), xf, self.b)
            check_finite(xf, lo, hi)
            return x_hat
        q, lo, step = self._codes(xf, shape)
        return dequantize(q, lo, step).reshape(-1)[: xf.numel()]

    def _encode(self, xf, shape):
        q, lo, step = self._codes(xf, shape)
        tdt = torch.float16 if self.group == "block128" else torch.float32
        tables = torch.stack([lo.reshape(-1), step.reshape(-1)]).to(tdt)
        codes = q.reshape(-1)[: xf.numel()].to(torch.int32)
        return [tables, pack(codes, self.b)]

    def _decode(self, arrays, shape):
        tables, packed = arrays
        n = shape.numel()
        g = self._groups(shape)
        t = tables.float().view(2, g)
        lo, step = t[0].view(1, g, 1), t[1].view(1, g, 1)
        q = unpack(packed, n, self.b).to(torch.float32)
        v = self._view(q, shape)
        return dequantize(v, lo, step).reshape(-1)[:n]
