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
from .spec import Spec, parse_spec

SNR_CAP_DB = 200.0  # what a lossless direction reports


def snr_from_energy(signal: float, error: float) -> float:
    """10 log10(signal / error), capped at +-SNR_CAP_DB (lossless, or nothing sent: the cap)."""
    if error <= 0.0:
        return SNR_CAP_DB
    if signal <= 0.0:
        return -SNR_CAP_DB
    return max(-SNR_CAP_DB, min(SNR_CAP_DB, 10.0 * math.log10(signal / error)))


def energies(x: torch.Tensor, x_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum x^2, sum (x - x_hat)^2) as float64 scalars on x's device: accumulated there and read
    once per epoch, so the bookkeeping never waits for the GPU."""
    xf = x.detach().to(torch.float32)
    sig = torch.linalg.vector_norm(xf, dtype=torch.float64) ** 2
    if x_hat is x:
        return sig, torch.zeros((), dtype=torch.float64, device=x.device)
    err = torch.linalg.vector_norm(xf - x_hat.detach().to(torch.float32), dtype=torch.float64) ** 2
    return sig, err


def snr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    sig, err = energies(x, x_hat)
    return snr_from_energy(float(sig), float(err))


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
    """The autograd edge and its meter. What to send, the default and paired backward and any
    per-example state are the compressors' (``Compressor.send``, ``default_backward``,
    ``pairs_with``, ``stateful``): the Boundary knows no method by name."""

    def __init__(self, fwd: str | dict | Spec = "none", bwd: str | dict | Spec | None = None, name: str = "boundary"):
        super().__init__()
        from . import build  # the registry lives in the package

        self.fwd_spec = parse_spec(fwd)
        self.fwd = build(self.fwd_spec)
        if self.fwd.backward_only:
            raise ValueError(f"'{self.fwd_spec.method}' is a backward spec only")
        self.bwd_spec = parse_spec(self.fwd.default_backward() if bwd is None else bwd)
        self.bwd = build(self.bwd_spec)
        if self.bwd.pairs_with and self.fwd_spec.method != self.bwd.pairs_with:
            raise ValueError(f"bwd={self.bwd_spec}: needs a {self.bwd.pairs_with} forward, not {self.fwd_spec}")
        if self.bwd.forward_only:
            raise ValueError(
                f"bwd={self.bwd_spec}: '{self.bwd_spec.method}' compresses activations per example "
                "(forward only); give the gradient a direct spec such as uniform:b=8"
            )
        self.name = name
        self.down: nn.Module | None = None  # a learned forward's maps (made at the first forward)
        self.up: nn.Module | None = None
        self._ids: torch.Tensor | None = None
        self._train_call = False
        self.enabled = True  # False: the identity, nothing counted (see uncompressed())
        self._raw_scale = 1.0  # raw (fp32-link) bytes per crossed byte of the tensor: > 1 for a learned code
        self.reset_stats()

    def extra_repr(self) -> str:
        return f"name={self.name!r}, fwd={self.fwd_spec}, bwd={self.bwd_spec}"

    @property
    def stateful(self) -> bool:
        return self.fwd.stateful

    def set_batch_ids(self, ids: torch.Tensor | None) -> None:
        """The dataset indices of the next forward's batch (stateful methods need them)."""
        self._ids = ids

    def reset_stats(self) -> None:
        self.stats = {
            "calls": 0,
            "bwd_calls": 0,
            "sent_bytes_fwd": 0,
            "sent_bytes_bwd": 0,
            "seconds_fwd": 0.0,
            "seconds_bwd": 0.0,
            "seconds_stats": 0.0,
            "numel": 0,
            "shape": None,
            "signal_fwd": 0.0,  # float64 device scalars once a tensor went by
            "error_fwd": 0.0,
            "signal_bwd": 0.0,
            "error_bwd": 0.0,
            "raw_bytes_fwd": 0,
            "raw_bytes_bwd": 0,
            # values of training crossings, and how many of them went exactly (not compressed)
            "train_values_fwd": 0,
            "train_values_bwd": 0,
            "exact_values_fwd": 0,
            "exact_values_bwd": 0,
            "buffer_bytes": self.fwd.buffer_bytes,
        }

    @property
    def learned(self) -> bool:
        return self.fwd.learned

    def _maps(self, x: torch.Tensor) -> None:
        if self.down is None:
            from .features import feature_dim

            features = x.shape[feature_dim(x.dim())]
            self.down, self.up = self.fwd.maps(features, x.device)
            self._raw_scale = features / self.down.weight.shape[1]  # the uncompressed link sends x, not the code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned:  # the code crosses: down before the wire, up after it, trained with the model
            self._maps(x)
            if not self.enabled:
                return self.up(self.down(x))
            return self.up(self._cross(self.down(x)))
        if not self.enabled:
            return x
        return self._cross(x)

    def _cross(self, x: torch.Tensor) -> torch.Tensor:
        # Function.forward runs with grad off: decide here whether this is a training forward
        self._train_call = torch.is_grad_enabled()
        if self.stateful and self._train_call and self._ids is None:
            raise ValueError(
                f"boundary {self.name!r} ({self.fwd_spec}): a training forward needs "
                "set_batch_ids(ids) first (the batch's example indices)"
            )
        return _Compress.apply(x, self)

    # ------------------------------------------------------------------
    def _count(self, direction: str, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        t0 = time.perf_counter()
        sig, err = energies(x, x_hat)
        s = self.stats
        s[f"signal_{direction}"] = s[f"signal_{direction}"] + sig
        s[f"error_{direction}"] = s[f"error_{direction}"] + err
        s["seconds_stats"] += time.perf_counter() - t0

    def snr_db(self, direction: str) -> float:
        """10 log10(signal / error) over everything this direction sent since reset_stats (one
        read of the device accumulators)."""
        s = self.stats
        return snr_from_energy(float(s[f"signal_{direction}"]), float(s[f"error_{direction}"]))

    def _meter(self, direction: str, x: torch.Tensor, x_hat: torch.Tensor, nbytes: int, seconds: float) -> None:
        s = self.stats
        s[f"seconds_{direction}"] += seconds
        s["calls" if direction == "fwd" else "bwd_calls"] += 1
        s[f"sent_bytes_{direction}"] += nbytes
        s[f"raw_bytes_{direction}"] += round(x.numel() * x.element_size() * self._raw_scale)  # uncompressed link
        self._count(direction, x, x_hat)

    def _crossed(self, direction: str, x: torch.Tensor, exact: int) -> None:
        self.stats[f"train_values_{direction}"] += x.numel()
        self.stats[f"exact_values_{direction}"] += exact

    def compressed_fraction(self, direction: str) -> float:
        """The fraction of this direction's training values that crossed compressed (1.0 when
        nothing crossed yet: no evidence against the compressor)."""
        n = self.stats[f"train_values_{direction}"]
        return 1.0 - self.stats[f"exact_values_{direction}"] / n if n else 1.0

    def _forward(self, x):
        ids = None
        if self.stateful and self._train_call:
            ids, self._ids = self._ids, None
        _sync(x)
        t0 = time.perf_counter()
        try:
            x_hat, nbytes, saved = self.fwd.send(x, ids)
        except NonFiniteError as e:
            raise ValueError(f"boundary {self.name!r} (forward activation, {self.fwd_spec}): {e}") from None
        _sync(x)
        self._meter("fwd", x, x_hat, nbytes, time.perf_counter() - t0)
        if self._train_call:
            self._crossed("fwd", x, self.fwd.exact_values(x))
        self.stats.update(numel=x.numel(), shape=list(x.shape), buffer_bytes=self.fwd.buffer_bytes)
        return x_hat, (saved if self.bwd.pairs_with else None)

    def _backward(self, g, saved, layout):
        _sync(g)
        t0 = time.perf_counter()
        try:
            g_hat, nbytes = self.bwd.send_back(g, saved, layout)
        except NonFiniteError as e:
            raise ValueError(f"boundary {self.name!r} (backward gradient, {self.bwd_spec}): {e}") from None
        _sync(g)
        self._meter("bwd", g, g_hat, nbytes, time.perf_counter() - t0)
        self._crossed("bwd", g, self.bwd.exact_values(g))
        return g_hat

    # --- state: stateful methods' buffers travel with the model's checkpoint --------
    def get_extra_state(self) -> dict:
        """Each direction's state (AQ-SGD's buffers, low rank's warm start), if it keeps any."""
        return {k: st for k, c in (("fwd", self.fwd), ("bwd", self.bwd)) if (st := c.state())}

    def set_extra_state(self, state: dict) -> None:
        for key, comp in (("fwd", self.fwd), ("bwd", self.bwd)):
            if state.get(key) is not None:
                comp.load_state(state[key])


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
