"""Boundary: an nn.Module that compresses the activation going forward and its gradient
coming back, as at a cut point of a split model, and counts the bytes and seconds of each."""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from .base import NonFiniteError
from .none import Mask, NoCompression
from .spec import Spec, parse_spec
from .topk import TopK

SNR_CAP_DB = 200.0  # what a lossless direction reports


def snr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    xf = x.detach().float()
    sig = float(torch.linalg.vector_norm(xf)) ** 2
    err = float(torch.linalg.vector_norm(xf - x_hat.detach().float())) ** 2
    if err == 0.0:
        return SNR_CAP_DB
    if sig == 0.0:
        return -SNR_CAP_DB
    return max(-SNR_CAP_DB, min(SNR_CAP_DB, 10.0 * math.log10(sig / err)))


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


class _Compress(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, boundary):
        x_hat, idx = boundary._forward(x)
        ctx.boundary = boundary
        if idx is not None:
            ctx.save_for_backward(idx)
        return x_hat

    @staticmethod
    def backward(ctx, g):
        idx = ctx.saved_tensors[0] if ctx.saved_tensors else None
        return ctx.boundary._backward(g, idx), None


class Boundary(nn.Module):
    def __init__(self, fwd: str | dict | Spec = "none", bwd: str | dict | Spec | None = None, name: str = "boundary"):
        super().__init__()
        from . import build  # the registry lives in the package

        self.fwd_spec = parse_spec(fwd)
        if bwd is None:
            bwd = "mask" if self.fwd_spec.method == "topk" else self.fwd_spec
        self.bwd_spec = parse_spec(bwd)
        if self.bwd_spec.method == "mask" and self.fwd_spec.method != "topk":
            raise ValueError(f"bwd='mask' needs a topk forward, not {self.fwd_spec}")
        if self.fwd_spec.method == "mask":
            raise ValueError("'mask' is a backward spec only")
        self.fwd = build(self.fwd_spec)
        self.bwd = build(self.bwd_spec)
        self.name = name
        self.reset_stats()

    def extra_repr(self) -> str:
        return f"name={self.name!r}, fwd={self.fwd_spec}, bwd={self.bwd_spec}"

    def reset_stats(self) -> None:
        self.stats = {
            "calls": 0,
            "bwd_calls": 0,
            "bytes_fwd": 0,
            "bytes_bwd": 0,
            "seconds_fwd": 0.0,
            "seconds_bwd": 0.0,
            "numel": 0,
            "shape": None,
            "snr_fwd_db": 0.0,
            "snr_bwd_db": 0.0,
            "raw_bytes_fwd": 0,
            "raw_bytes_bwd": 0,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Compress.apply(x, self)

    # ------------------------------------------------------------------
    def _run(self, comp, x, direction):
        try:
            if isinstance(comp, TopK) and isinstance(self.bwd, Mask):
                xf = x.detach().reshape(-1).float()
                idx = comp.select(xf)
                x_hat = xf.new_zeros(xf.shape)
                x_hat[idx] = xf[idx]
                return x_hat.to(x.dtype).view(x.shape), comp.payload_nbytes(x.shape), idx
            if isinstance(comp, NoCompression):
                return x, comp.payload_nbytes(x.shape, x.dtype), None
            x_hat, _ = comp.roundtrip(x)
            return x_hat, comp.payload_nbytes(x.shape), None
        except NonFiniteError as e:
            raise ValueError(f"boundary {self.name!r} ({direction}, {comp.spec}): {e}") from None

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
        snr = SNR_CAP_DB if x_hat is x else snr_db(x, x_hat)
        s["snr_fwd_db"] += (snr - s["snr_fwd_db"]) / s["calls"]
        return x_hat, idx

    def _backward(self, g, idx):
        _sync(g)
        t0 = time.perf_counter()
        if isinstance(self.bwd, Mask):
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
        snr = SNR_CAP_DB if g_hat is g else snr_db(g, g_hat)
        s["snr_bwd_db"] += (snr - s["snr_bwd_db"]) / s["bwd_calls"]
        return g_hat
