"""Boundary: an nn.Module that compresses the activation going forward and its gradient
coming back, as at a cut point of a split model, and counts the bytes and seconds of each.

What it hands on has the shape, dtype, device and strides of what it got, so that the
layers after a cut run as they would without it. Signal and error energies are summed over
calls; the SNR of a direction is 10 log10(signal / error) over everything it sent (an
all-zero tensor adds to neither; a lossless direction reports ``SNR_CAP_DB``). The energy
bookkeeping is timed apart (``seconds_stats``) so that it never counts as compression.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import torch
from torch import nn

from .base import NonFiniteError
from .delta import Delta
from .layout import like_strides, memory_flat
from .none import Mask, NoCompression
from .spec import BACKWARD_ONLY, FORWARD_ONLY, Spec, parse_spec
from .topk import TopK

SNR_CAP_DB = 200.0  # what a lossless direction reports
DELTA_BWD_DEFAULT = "uniform:b=8"  # AQ-SGD sends gradients with a direct quantizer


def snr_from_energy(signal: float, error: float) -> float:
    """10 log10(signal / error), capped at +-SNR_CAP_DB (lossless, or nothing sent: the cap)."""
    if error <= 0.0:
        return SNR_CAP_DB
    if signal <= 0.0:
        return -SNR_CAP_DB
    return max(-SNR_CAP_DB, min(SNR_CAP_DB, 10.0 * math.log10(signal / error)))


def energies(x: torch.Tensor, x_hat: torch.Tensor) -> tuple[float, float]:
    """(sum x^2, sum (x - x_hat)^2) in float64."""
    xf = x.detach().to(torch.float32)
    sig = float(torch.linalg.vector_norm(xf, dtype=torch.float64)) ** 2
    if x_hat is x:
        return sig, 0.0
    err = float(torch.linalg.vector_norm(xf - x_hat.detach().to(torch.float32), dtype=torch.float64)) ** 2
    return sig, err


def snr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    return snr_from_energy(*energies(x, x_hat))


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


class _Compress(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, boundary):
        x_hat, idx = boundary._forward(x)
        ctx.boundary = boundary
        ctx.layout = (tuple(x.shape), tuple(x.stride()))
        if idx is not None:
            ctx.save_for_backward(idx)
        return x_hat

    @staticmethod
    def backward(ctx, g):
        idx = ctx.saved_tensors[0] if ctx.saved_tensors else None
        return ctx.boundary._backward(g, idx, ctx.layout), None


class Boundary(nn.Module):
    def __init__(self, fwd: str | dict | Spec = "none", bwd: str | dict | Spec | None = None, name: str = "boundary"):
        super().__init__()
        from . import build  # the registry lives in the package

        self.fwd_spec = parse_spec(fwd)
        if self.fwd_spec.method in BACKWARD_ONLY:
            raise ValueError(f"'{self.fwd_spec.method}' is a backward spec only")
        if bwd is None:
            if self.fwd_spec.method == "topk":
                bwd = "mask"
            elif self.fwd_spec.method == "delta":
                bwd = DELTA_BWD_DEFAULT
            else:
                bwd = self.fwd_spec
        self.bwd_spec = parse_spec(bwd)
        if self.bwd_spec.method == "mask" and self.fwd_spec.method != "topk":
            raise ValueError(f"bwd='mask' needs a topk forward, not {self.fwd_spec}")
        if self.bwd_spec.method in FORWARD_ONLY:
            raise ValueError(
                f"bwd={self.bwd_spec}: '{self.bwd_spec.method}' compresses activations per example "
                "(forward only); give the gradient a direct spec such as uniform:b=8"
            )
        self.fwd = build(self.fwd_spec)
        self.bwd = build(self.bwd_spec)
        self.name = name
        self._ids: torch.Tensor | None = None
        self._train_call = False
        self.enabled = True  # False: the identity, nothing counted (see uncompressed())
        self.reset_stats()

    def extra_repr(self) -> str:
        return f"name={self.name!r}, fwd={self.fwd_spec}, bwd={self.bwd_spec}"

    @property
    def stateful(self) -> bool:
        return isinstance(self.fwd, Delta)

    def set_batch_ids(self, ids: torch.Tensor | None) -> None:
        """The dataset indices of the next forward's batch (stateful methods need them)."""
        self._ids = ids

    def reset_stats(self) -> None:
        self.stats = {
            "calls": 0,
            "bwd_calls": 0,
            "bytes_fwd": 0,
            "bytes_bwd": 0,
            "seconds_fwd": 0.0,
            "seconds_bwd": 0.0,
            "seconds_stats": 0.0,
            "numel": 0,
            "shape": None,
            "signal_fwd": 0.0,
            "error_fwd": 0.0,
            "signal_bwd": 0.0,
            "error_bwd": 0.0,
            "snr_fwd_db": SNR_CAP_DB,
            "snr_bwd_db": SNR_CAP_DB,
            "raw_bytes_fwd": 0,
            "raw_bytes_bwd": 0,
            "buffer_bytes": self.fwd.buffer_bytes if isinstance(self.fwd, Delta) else 0,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        # Function.forward runs with grad off: decide here whether this is a training forward
        self._train_call = torch.is_grad_enabled()
        if self.stateful and self._train_call and self._ids is None:
            raise ValueError(
                f"boundary {self.name!r} ({self.fwd_spec}): a training forward needs "
                "set_batch_ids(ids) first (the batch's example indices)"
            )
        return _Compress.apply(x, self)

    # ------------------------------------------------------------------
    def _run(self, comp, x, direction):
        try:
            if isinstance(comp, TopK) and isinstance(self.bwd, Mask):
                flat, _, restore = memory_flat(x.detach())
                xf = flat.float()
                idx = comp.select(xf)
                x_hat = xf.new_zeros(xf.shape)
                x_hat[idx] = xf[idx]
                return restore(x_hat.to(x.dtype)), comp.payload_nbytes(x.shape), idx
            if isinstance(comp, NoCompression):
                return x, comp.payload_nbytes(x.shape, x.dtype), None
            if isinstance(comp, Delta) and self._train_call:
                ids, self._ids = self._ids, None
                x_hat, nbytes = comp.roundtrip_ids(x, ids)
                return x_hat, nbytes, None
            x_hat, _ = comp.roundtrip(x)
            return x_hat, comp.payload_nbytes(x.shape), None
        except NonFiniteError as e:
            raise ValueError(f"boundary {self.name!r} ({direction}, {comp.spec}): {e}") from None

    def _count(self, direction: str, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        t0 = time.perf_counter()
        sig, err = energies(x, x_hat)
        s = self.stats
        s[f"signal_{direction}"] += sig
        s[f"error_{direction}"] += err
        s[f"snr_{direction}_db"] = snr_from_energy(s[f"signal_{direction}"], s[f"error_{direction}"])
        s["seconds_stats"] += time.perf_counter() - t0

    def _forward(self, x):
        _sync(x)
        t0 = time.perf_counter()
        x_hat, nbytes, idx = self._run(self.fwd, x, "forward activation")
        _sync(x)
        s = self.stats
        s["seconds_fwd"] += time.perf_counter() - t0
        s["calls"] += 1
        s["bytes_fwd"] += nbytes
        s["raw_bytes_fwd"] += 4 * x.numel()
        s["numel"] = x.numel()
        s["shape"] = list(x.shape)
        if isinstance(self.fwd, Delta):
            s["buffer_bytes"] = self.fwd.buffer_bytes
        self._count("fwd", x, x_hat)
        return x_hat, idx

    def _backward(self, g, idx, layout):
        _sync(g)
        t0 = time.perf_counter()
        if isinstance(self.bwd, Mask):
            g = like_strides(g, *layout)
            g_hat, _ = self.bwd.roundtrip_at(g, idx)
            nbytes = self.bwd.nbytes_at(g, idx)
        else:
            g_hat, nbytes, _ = self._run(self.bwd, g, "backward gradient")
        _sync(g)
        s = self.stats
        s["seconds_bwd"] += time.perf_counter() - t0
        s["bwd_calls"] += 1
        s["bytes_bwd"] += nbytes
        s["raw_bytes_bwd"] += 4 * g.numel()
        self._count("bwd", g, g_hat)
        return g_hat

    # --- state: stateful methods' buffers travel with the model's checkpoint --------
    def get_extra_state(self) -> dict:
        return {"fwd": self.fwd.state()} if self.stateful else {}

    def set_extra_state(self, state: dict) -> None:
        if self.stateful and state.get("fwd") is not None:
            self.fwd.load_state(state["fwd"])


@contextmanager
def uncompressed(boundaries):
    """Within: every boundary passes its tensor through untouched and counts nothing (the
    model as trained, without the link), e.g. to evaluate it without compression."""
    boundaries = list(boundaries)
    before = [b.enabled for b in boundaries]
    for b in boundaries:
        b.enabled = False
    try:
        yield
    finally:
        for b, e in zip(boundaries, before, strict=True):
            b.enabled = e
