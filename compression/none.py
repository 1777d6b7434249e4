"""No compression: the tensor as it is, in its own dtype (the baseline's bytes)."""

from __future__ import annotations

import torch

from .base import Compressor
from .layout import memory_flat
from .payload import Payload, header_nbytes
from .topk import scatter_kept


class NoCompression(Compressor):
    def roundtrip(self, x):
        return x, self.bits(x.shape, x.dtype)

    def bits(self, shape, dtype=torch.float32) -> int:
        return torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size() * 8

    def payload_nbytes(self, shape, dtype=torch.float32) -> int:
        return header_nbytes(len(shape), 1) + self.bits(shape, dtype) // 8

    def encode(self, x):
        return Payload(tuple(x.shape), x.dtype, [x.detach().reshape(-1).contiguous().cpu()])

    def decode(self, payload, device=None):
        return payload.arrays[0].to(device).view(payload.shape).clone()


class Mask(Compressor):
    """Backward of top-k: the gradient at the positions the forward kept, fp32 values only
    (the receiver knows the positions already)."""

    def roundtrip_at(self, g: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        """idx: memory positions in g's layout (the forward's, see ``layout.like_strides``)."""
        flat, _, restore = memory_flat(g)
        return restore(scatter_kept(flat, idx)), 32 * idx.numel()

    def nbytes_at(self, g: torch.Tensor, idx: torch.Tensor) -> int:
        return header_nbytes(g.dim(), 1) + 4 * idx.numel()

    def roundtrip(self, x):
        raise TypeError("'mask' is only a backward spec for a topk forward (it needs its positions)")

    encode = roundtrip
