"""Wire format: codes packed at their real bit width plus a small header.

Layout of ``Payload.to_bytes()`` (little endian)::

    b"CS" | dtype code (u8) | ndim (u8) | shape (u32 * ndim) | narrays (u8)
    then per array: element type (u8) | element count (u32)
    then the arrays' raw bytes, in order

Arrays are float32 / float16 tables (min, step, edges, codebooks, kept values) and
uint8 streams of packed codes. ``nbytes`` is the exact length of ``to_bytes()``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import torch

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.uint8, torch.int32]
_CODE = {dt: i for i, dt in enumerate(DTYPES)}
MAGIC = b"CS"


def header_nbytes(ndim: int, narrays: int) -> int:
    return 2 + 1 + 1 + 4 * ndim + 1 + 5 * narrays


@dataclass
class Payload:
    shape: tuple[int, ...]
    dtype: torch.dtype
    arrays: list[torch.Tensor]  # 1-D, contiguous, on CPU

    @property
    def header_nbytes(self) -> int:
        return header_nbytes(len(self.shape), len(self.arrays))

    @property
    def nbytes(self) -> int:
        return self.header_nbytes + sum(a.numel() * a.element_size() for a in self.arrays)

    def to_bytes(self) -> bytes:
        head = [MAGIC, struct.pack("<BB", _CODE[self.dtype], len(self.shape))]
        head.append(struct.pack(f"<{len(self.shape)}I", *self.shape))
        head.append(struct.pack("<B", len(self.arrays)))
        for a in self.arrays:
            head.append(struct.pack("<BI", _CODE[a.dtype], a.numel()))
        body = [a.contiguous().view(torch.uint8).numpy().tobytes() for a in self.arrays]
        return b"".join(head + body)

    @classmethod
    def from_bytes(cls, data: bytes) -> Payload:
        if data[:2] != MAGIC:
            raise ValueError("not a compsweep payload (bad magic)")
        dcode, ndim = struct.unpack_from("<BB", data, 2)
        off = 4
        shape = struct.unpack_from(f"<{ndim}I", data, off)
        off += 4 * ndim
        (narrays,) = struct.unpack_from("<B", data, off)
        off += 1
        metas = []
        for _ in range(narrays):
            metas.append(struct.unpack_from("<BI", data, off))
            off += 5
        arrays = []
        buf = bytearray(data)
        for code, count in metas:
            dt = DTYPES[code]
            size = count * torch.empty((), dtype=dt).element_size()
            raw = (
                torch.frombuffer(buf, dtype=torch.uint8, count=size, offset=off)
                if size
                else (torch.empty(0, dtype=torch.uint8))
            )
            arrays.append(raw.clone().view(dt))
            off += size
        if off != len(data):
            raise ValueError(f"payload length {len(data)} does not match its header ({off})")
        return cls(tuple(shape), DTYPES[dcode], arrays)


# ---------------------------------------------------------------- bit packing


def packed_nbytes(n: int, width: int) -> int:
    return math.ceil(n * width / 8)


def pack(codes: torch.Tensor, width: int) -> torch.Tensor:
    """Pack non-negative integer codes (< 2**width) into ceil(n*width/8) bytes, LSB first."""
    codes = codes.reshape(-1)
    n = codes.numel()
    if width > 8:  # low byte as is, the high (width - 8) bits packed after it
        c = codes.to(torch.int32)
        low = (c & 0xFF).to(torch.uint8)
        return torch.cat([low, pack(c >> 8, width - 8)])
    if width == 8:
        return codes.to(torch.uint8)
    m = -(-n // 8)
    c = torch.zeros(m * 8, dtype=torch.int64, device=codes.device)
    c[:n] = codes
    shifts = torch.arange(8, device=codes.device, dtype=torch.int64) * width
    words = (c.view(m, 8) << shifts).sum(dim=1)  # m words holding 8*width bits each
    byte_shifts = torch.arange(width, device=codes.device, dtype=torch.int64) * 8
    out = ((words[:, None] >> byte_shifts) & 0xFF).to(torch.uint8).reshape(-1)
    return out[: packed_nbytes(n, width)].contiguous()


def unpack(data: torch.Tensor, n: int, width: int) -> torch.Tensor:
    """Inverse of ``pack``: int64 codes of length n."""
    if width > 8:
        low = data[:n].to(torch.int64)
        high = unpack(data[n:], n, width - 8)
        return low | (high << 8)
    if width == 8:
        return data[:n].to(torch.int64)
    m = -(-n // 8)
    full = torch.zeros(m * width, dtype=torch.int64, device=data.device)
    full[: data.numel()] = data
    byte_shifts = torch.arange(width, device=data.device, dtype=torch.int64) * 8
    words = (full.view(m, width) << byte_shifts).sum(dim=1)
    shifts = torch.arange(8, device=data.device, dtype=torch.int64) * width
    codes = (words[:, None] >> shifts) & ((1 << width) - 1)
    return codes.reshape(-1)[:n]
