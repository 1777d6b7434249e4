"""The Compressor interface shared by every method, and the helpers they use."""

from __future__ import annotations

import os

import torch

from .payload import Payload, header_nbytes
from .spec import Spec


class NonFiniteError(ValueError):
    """The tensor to compress holds NaN or inf values."""


def check_finite(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> None:
    """min/max already computed (NaN propagates through them): one sync, no extra pass."""
    if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{bad} non-finite values (NaN/inf) in a tensor of shape {list(x.shape)}")


def compile_mode() -> str:
    """COMPSWEEP_COMPILE: 0 (eager), 1 (always torch.compile), auto (tensors >= 256k values)."""
    return os.environ.get("COMPSWEEP_COMPILE", "auto").strip().lower()


COMPILE_MIN_NUMEL = 1 << 18


class Lazy:
    """torch.compile a kernel on first use, so importing compression stays fast."""

    def __init__(self, fn):
        self.fn = fn
        self.compiled = None

    def __call__(self, numel: int, *args):
        mode = compile_mode()
        use = mode in ("1", "true", "yes", "on") or (mode == "auto" and numel >= COMPILE_MIN_NUMEL)
        if not use:
            return self.fn(*args)
        if self.compiled is None:
            self.compiled = torch.compile(self.fn, dynamic=False)
        return self.compiled(*args)


class Compressor:
    """One instance per boundary and direction. Subclasses implement the _methods."""

    spec: Spec

    def __init__(self, spec: Spec):
        self.spec = spec

    # --- public API -------------------------------------------------------
    def roundtrip(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Fast path used in training: the reconstruction and the payload bits (header aside)."""
        xf = x.detach().reshape(-1).to(torch.float32)
        if xf.numel() == 0:
            return x.detach().clone(), 0
        x_hat = self._roundtrip(xf, x.shape)
        return x_hat.to(x.dtype).view(x.shape), self.bits(x.shape)

    def encode(self, x: torch.Tensor) -> Payload:
        xf = x.detach().reshape(-1).to(torch.float32)
        arrays = self._encode(xf, x.shape) if xf.numel() else []
        return Payload(tuple(x.shape), x.dtype, [a.reshape(-1).contiguous().cpu() for a in arrays])

    def decode(self, payload: Payload, device: torch.device | str | None = None) -> torch.Tensor:
        shape = torch.Size(payload.shape)
        if shape.numel() == 0:
            return torch.empty(shape, dtype=payload.dtype, device=device)
        arrays = [a.to(device) for a in payload.arrays]
        return self._decode(arrays, shape).to(payload.dtype).view(shape)

    def bits(self, shape) -> int:
        """Information bits on the wire: packed codes and tables, without header and padding."""
        return sum(self._array_bits(torch.Size(shape)))

    def payload_nbytes(self, shape) -> int:
        """Exact ``encode(x).nbytes`` for a tensor of this shape."""
        shape = torch.Size(shape)
        if shape.numel() == 0:
            return header_nbytes(len(shape), 0)
        sizes = self._array_bits(shape)
        return header_nbytes(len(shape), len(sizes)) + sum(-(-b // 8) for b in sizes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec})"

    # --- per method ------------------------------------------------------
    def _array_bits(self, shape: torch.Size) -> list[int]:
        raise NotImplementedError

    def _roundtrip(self, xf: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return self._decode(self._encode(xf, shape), shape)

    def _encode(self, xf: torch.Tensor, shape: torch.Size) -> list[torch.Tensor]:
        raise NotImplementedError

    def _decode(self, arrays: list[torch.Tensor], shape: torch.Size) -> torch.Tensor:
        raise NotImplementedError


__all__ = [
    "Compressor",
    "Lazy",
    "NonFiniteError",
    "check_finite",
]
