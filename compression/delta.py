"""AQ-SGD activation compression (Wang et al., NeurIPS 2022): per training example, send
the quantized change of its activation since the last time it was seen.

Both ends keep, per example i, the last reconstruction m(i) (fp16 by default). The first
time i is seen its activation goes exactly (fp32, counted as such) and m(i) = a(i); after
that Q(a(i) - m(i)) goes, with the inner uniform quantizer of the spec's bits, and both ends
set m(i) += Q(a(i) - m(i)) and continue with m(i). Without example ids (eval, or a batch of
validation examples) it sends the direct quantizer of the same bits.

Payload of a training batch: the example ids (int32), the exact rows of first sightings
(fp32), and the inner quantizer's tables and codes for the others. Buffers grow lazily to
the largest id seen, on the activation's device; rows keep the largest row shape seen (a
sequence that comes back padded shorter uses a prefix of its row).
"""

from __future__ import annotations

import torch

from .base import Lazy, Wraps, check_finite
from .payload import Payload, header_nbytes
from .uniform import Uniform, half_levels

BUFFER_DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def _fused_step(x, m, lim: int):
    """AQ-SGD's default step in one pass over the data (absmax per tensor, nearest): the new
    reconstruction m + Q(x - m) in the buffer's dtype and as fp32, and max|x - m|."""
    mf = m.float()
    d = x - mf
    a = d.abs().amax()
    step = torch.where(a > 0, a / lim, torch.ones_like(a))
    new = (mf + torch.round(d / step).clamp(-lim, lim) * step).to(m.dtype)
    return new, new.float(), a


_fused = Lazy(_fused_step)


class Delta(Wraps):
    stateful = True
    forward_only = True
    BACKWARD = "uniform:b=8"  # AQ-SGD sends gradients with a direct quantizer

    def default_backward(self) -> str:
        return self.BACKWARD

    def send(self, x, ids=None):
        """Training (ids given): the delta path with its exact bytes; eval: the direct quantizer."""
        self._exact = 0
        if ids is None:
            return super().send(x)
        x_hat, nbytes = self.roundtrip_ids(x, ids)
        return x_hat, nbytes, None

    def describe(self):
        return {"bits": self.inner.b}

    def exact_values(self, x):
        return self._exact

    def exact_fraction(self, epochs):
        return 1.0 / max(int(epochs), 1)  # every example's first sighting goes exactly

    def __init__(self, spec):
        super().__init__(spec)
        self.inner = Uniform(spec.inner())
        self.buffer_dtype = BUFFER_DTYPES[spec.params["buffer"]]
        self.buf: torch.Tensor | None = None  # [capacity, *row]
        self.seen: torch.Tensor | None = None  # bool [capacity]
        self._exact = 0  # values the last send sent exactly
        inner = self.inner
        self._fusable = inner.absmax and inner.group == "tensor" and not inner.stochastic and inner.clip >= 100

    # --- the direct path (no ids): the inner quantizer's, through Wraps -----------

    # --- the training path -------------------------------------------------------
    @property
    def buffer_bytes(self) -> int:
        return 0 if self.buf is None else self.buf.numel() * self.buf.element_size()

    def _ensure(self, ids: torch.Tensor, row: torch.Size, device) -> tuple:
        """Grow the buffers to hold ids and rows of this shape; the index of the batch's rows."""
        need = int(ids.max()) + 1
        if self.buf is None:
            self.buf = torch.zeros((need, *row), dtype=self.buffer_dtype, device=device)
            self.seen = torch.zeros(need, dtype=torch.bool, device=device)
        elif self.buf.dim() != len(row) + 1:
            raise ValueError(f"delta: rows of {self.buf.dim() - 1} dims so far, now a batch of shape {list(row)}")
        cap, old_row = self.buf.shape[0], self.buf.shape[1:]
        new_row = torch.Size(max(a, b) for a, b in zip(old_row, row, strict=True))
        if need > cap or new_row != old_row:
            new_cap = max(need, cap + cap // 2) if need > cap else cap
            buf = torch.zeros((new_cap, *new_row), dtype=self.buffer_dtype, device=device)
            buf[(slice(0, cap), *(slice(0, d) for d in old_row))] = self.buf
            seen = torch.zeros(new_cap, dtype=torch.bool, device=device)
            seen[:cap] = self.seen
            self.buf, self.seen = buf, seen
        return (ids, *(slice(0, d) for d in row))

    def _step(self, x: torch.Tensor, ids: torch.Tensor):
        """(new reconstruction fp32 [B, *row] logical, rows seen before, inner payload of their deltas or None)."""
        ids = ids.to(device=x.device, dtype=torch.long)
        if ids.dim() != 1 or ids.numel() != x.shape[0]:
            raise ValueError(f"delta: {ids.numel()} example ids for a batch of {x.shape[0]}")
        at = self._ensure(ids, x.shape[1:], x.device)
        xf = x.detach().to(torch.float32)
        was = self.seen[ids]
        whole_rows = tuple(self.buf.shape[1:]) == tuple(x.shape[1:])
        if whole_rows and bool(was.all()) and self._fusable:
            stored, out, a = _fused(x.numel(), xf, self.buf.index_select(0, ids), half_levels(self.inner.b))
            check_finite(xf, a, a)
            self.buf.index_copy_(0, ids, stored)
            return out, was
        m = self.buf[at].to(torch.float32)
        if bool(was.all()):
            q, _ = self.inner.roundtrip(xf - m)
            stored = (m + q).to(self.buffer_dtype)
            self.buf[at] = stored
            return stored.to(torch.float32), was
        new = xf.clone(memory_format=torch.contiguous_format)
        if bool(was.any()):
            rows = was.nonzero().view(-1)
            q, _ = self.inner.roundtrip(xf[rows] - m[rows])
            new[rows] = m[rows] + q
        stored = new.to(self.buffer_dtype)
        self.buf[at] = stored
        self.seen[ids] = True
        out = torch.where(was.view(-1, *[1] * (x.dim() - 1)), stored.to(torch.float32), new)
        return out, was

    def roundtrip_ids(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Training: the receiver's reconstruction (with x's strides) and the exact payload bytes."""
        out, was = self._step(x, ids)
        n_seen = int(was.sum())
        self._exact = (x.shape[0] - n_seen) * x[0].numel()  # first sightings go exactly
        if out.dtype != x.dtype or out.stride() != x.stride():
            y = torch.empty_like(x)
            y.copy_(out)
            out = y
        return out, self.nbytes_ids(x.shape, n_seen)

    def nbytes_ids(self, shape, n_seen: int) -> int:
        shape = torch.Size(shape)
        b, row = shape[0], shape[1:].numel()
        inner = 0
        if n_seen:
            sub = torch.Size((n_seen, *shape[1:]))
            inner = self.inner.payload_nbytes(sub) - header_nbytes(len(sub), 2)
        return header_nbytes(len(shape), 4) + 4 * b + 4 * row * (b - n_seen) + inner

    def encode_ids(self, x: torch.Tensor, ids: torch.Tensor) -> Payload:
        """The sender's side: what goes on the wire; the sender then decodes its own payload, so
        both ends continue with bit-identical buffers."""
        ids = ids.to(device=x.device, dtype=torch.long)
        at = self._ensure(ids, x.shape[1:], x.device)
        was = self.seen[ids]
        xf = x.detach().to(torch.float32)
        rows = was.nonzero().view(-1)
        fresh = (~was).nonzero().view(-1)
        arrays = [ids.to(torch.int32), xf[fresh].reshape(-1)]
        if rows.numel():
            p = self.inner.encode(xf[rows] - self.buf[at][rows].to(torch.float32))
            arrays += p.arrays
        else:
            arrays += [torch.zeros(0), torch.zeros(0, dtype=torch.uint8)]
        payload = Payload(tuple(x.shape), x.dtype, [a.reshape(-1).contiguous().cpu() for a in arrays])
        self.decode_ids(payload, x.device)
        return payload

    def decode_ids(self, payload: Payload, device=None) -> torch.Tensor:
        """The receiver's side (its own buffers): the reconstruction it continues with."""
        shape = torch.Size(payload.shape)
        ids_i32, exact, *inner = [a.to(device) for a in payload.arrays]
        ids = ids_i32.to(torch.long)
        at = self._ensure(ids, shape[1:], exact.device)
        was = self.seen[ids]
        rows = was.nonzero().view(-1)
        fresh = (~was).nonzero().view(-1)
        new = torch.empty(shape, dtype=torch.float32, device=exact.device)
        new[fresh] = exact.view(-1, *shape[1:])
        if rows.numel():
            sub = torch.Size((rows.numel(), *shape[1:]))
            q = self.inner._decode(inner, sub).view(sub)
            new[rows] = self.buf[at][rows].to(torch.float32) + q
        stored = new.to(self.buffer_dtype)
        self.buf[at] = stored
        self.seen[ids] = True
        out = torch.where(was.view(-1, *[1] * (len(shape) - 1)), stored.to(torch.float32), new)
        return out.to(payload.dtype)

    # --- checkpoints ---------------------------------------------------------------
    def state(self) -> dict:
        return {"buf": self.buf, "seen": self.seen}

    def load_state(self, state: dict) -> None:
        buf, seen = state.get("buf"), state.get("seen")
        self.buf = None if buf is None else buf.clone()
        self.seen = None if seen is None else seen.clone()
