"""FP8 on the wire: values scaled into a float8 format's range and cast (torch's float8 dtypes).

``fmt=e4m3`` (max ±448, 3 mantissa bits) is Transformer Engine's forward format, ``e5m2`` (max
±57344, 2 mantissa bits, more range) its backward one (the HYBRID recipe): a spec's default
backward is the same spec in e5m2. ``scale=tensor`` divides by one fp32 scale, amax / the
format's max, as ColossalAI's pipeline p2p does; ``scale=block128`` one fp32 scale per 128
values in logical order, as DeepSeek-V3. Wire: 8 bits a value (the float8 byte) plus the scales.
"""

from __future__ import annotations

import torch

from .base import Compressor, Lazy, check_finite
from .layout import Layout

FORMATS = {"e4m3": (torch.float8_e4m3fn, 448.0), "e5m2": (torch.float8_e5m2, 57344.0)}
# per format: (2^-mantissa bits, the subnormal step 2^(1 - bias - mantissa bits)); floats, which
# torch.compile specializes (an int argument would be a dynamic size and slow the kernel by 30%)
GRID = {"e4m3": (2.0**-3, 2.0**-9), "e5m2": (2.0**-2, 2.0**-16)}
BLOCK = 128


def _cast(x: torch.Tensor, scale: torch.Tensor, fmax: float, dtype: torch.dtype) -> torch.Tensor:
    """The float8 codes of x / scale (clamped to the format: a rounding never overflows to NaN)."""
    return (x / scale).clamp(-fmax, fmax).to(dtype)


def _on_grid(y: torch.Tensor, ulp: float, sub_step: float) -> torch.Tensor:
    """y (fp32, within the format's range) rounded to the nearest float8 value, ties to even, in
    fp32 arithmetic: the format's spacing at y is 2^(exponent - mantissa bits), never below the
    subnormal step; dividing by it and multiplying back are exact (powers of two). The same bits
    as torch's cast there and back (a test holds them equal), in one vectorized pass where
    inductor's CPU code for a float8 cast is not."""
    binade = (y.view(torch.int32) & 0x7F800000).view(torch.float32)  # 2^exponent (0 for subnormals)
    spacing = torch.clamp(binade * ulp, min=sub_step)
    return torch.round(y / spacing) * spacing


def _roundtrip_tensor(x: torch.Tensor, fmax: float, ulp: float, sub_step: float):
    amax = x.abs().amax()
    scale = torch.where(amax > 0, amax / fmax, torch.ones_like(amax))
    return _on_grid((x / scale).clamp(-fmax, fmax), ulp, sub_step) * scale, amax


_fused = Lazy(_roundtrip_tensor)


class FP8(Compressor):
    def __init__(self, spec):
        super().__init__(spec)
        self.fmt = spec.params["fmt"]
        self.dtype, self.fmax = FORMATS[self.fmt]
        self.block = spec.params["scale"] == "block128"
        self.layout_free = not self.block  # blocks are runs of logical positions

    def describe(self):
        return {"bits": 8}

    def default_backward(self) -> str:
        return f"fp8:fmt=e5m2,scale={self.spec.params['scale']}"

    def _groups(self, shape: torch.Size) -> int:
        return -(-shape.numel() // BLOCK) if self.block else 1

    def _array_bits(self, shape):
        return [32 * self._groups(shape), 8 * shape.numel()]

    def _view(self, xf: torch.Tensor) -> torch.Tensor:
        if not self.block:
            return xf.view(1, -1)
        pad = (-xf.numel()) % BLOCK
        if pad:  # zeros leave the last block's amax as it is
            xf = torch.cat([xf, xf.new_zeros(pad)])
        return xf.view(-1, BLOCK)

    def _scales(self, v: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        amax = v.abs().amax(dim=1, keepdim=True)
        check_finite(xf, amax, amax)
        return torch.where(amax > 0, amax / self.fmax, torch.ones_like(amax))

    def _roundtrip(self, xf, layout):
        if not self.block:
            x_hat, amax = _fused(xf.numel(), xf, self.fmax, *GRID[self.fmt])
            check_finite(xf, amax, amax)
            return x_hat
        v = self._view(xf)
        scale = self._scales(v, xf)
        return (_cast(v, scale, self.fmax, self.dtype).to(torch.float32) * scale).reshape(-1)[: xf.numel()]

    def _encode(self, xf, layout: Layout):
        v = self._view(xf)
        scale = self._scales(v, xf)
        codes = _cast(v, scale, self.fmax, self.dtype).reshape(-1)[: xf.numel()]
        return [scale.reshape(-1).to(torch.float32), codes.view(torch.uint8)]

    def _decode(self, arrays, shape):
        scale, codes = arrays
        n = shape.numel()
        values = self._view(codes.view(self.dtype).to(torch.float32))
        return (values * scale.view(-1, 1)).reshape(-1)[:n]
