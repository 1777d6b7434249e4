"""No compression: the tensor as it is, in its own dtype (the baseline's bytes)."""

from __future__ import annotations

import torch

from .base import Compressor
from .payload import Payload, header_nbytes


class NoCompression(Compressor):
    def roundtrip(self, x):
        return x, self.bits(x.shape, x.dtype)

    def send(self, x, ids=None):
        return x, self.payload_nbytes(x.shape, x.dtype), None

    def describe(self):
        return {"bits": 32}

    def exact_values(self, x):
        return x.numel()

    def exact_fraction(self, epochs):
        return 1.0

    def bits(self, shape, dtype=torch.float32) -> int:
        return torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size() * 8

    def payload_nbytes(self, shape, dtype=torch.float32) -> int:
        return header_nbytes(len(shape), 1) + self.bits(shape, dtype) // 8

    def encode(self, x):
        return Payload(tuple(x.shape), x.dtype, [x.detach().reshape(-1).contiguous().cpu()])

    def decode(self, payload, device=None):
        return payload.arrays[0].to(device).view(payload.shape).clone()
