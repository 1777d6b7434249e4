"""Low rank (PowerSGD's compressor, Vogels et al. 2019, as epfml/powersgd does it): the tensor
as a [positions, features] matrix M (features: the channels of a [B,C,H,W] activation, the last
dim otherwise), sent as rank-R factors from one power iteration a step, warm-started from the
last step's Q:

    P = M Q;  P = orthonormal(P);  Q = M^T P;  M ~ P Q^T

P [positions, R] and Q [features, R] go on the wire (fp32). A contiguous [B,C,H,W] activation
is read as B matrices [C, H*W] where it lies (batched products, no transposing copy of M or of
the result); a channels_last or [B,T,H] one is already the [positions, features] matrix. Q is
this boundary direction's state (kept from step to step, checkpointed with the trial); the
first Q is Gaussian from a fixed seed, so a run is reproducible and both ends agree.
"""

from __future__ import annotations

import torch

from .base import Compressor, check_finite
from .features import around_features, as_rows, feature_dim, from_rows, like
from .payload import Payload

SEED = 0


def batched(x: torch.Tensor) -> torch.Tensor | None:
    """A contiguous tensor with positions after its feature dim as [A, C, S] (a free view), or None."""
    a, c, s = around_features(x.shape)
    return x.view(a, c, s) if s > 1 and x.is_contiguous() else None


def orthonormal(p: torch.Tensor) -> torch.Tensor:
    """P's columns orthonormalized: Cholesky QR twice (two small Gram matrices and triangular
    solves, a third of Householder QR's time on a tall [positions, R] matrix, as accurate after
    the second pass); Householder QR where the Gram matrix is not positive definite (rank-deficient
    or non-finite P)."""
    for _ in range(2):
        chol, info = torch.linalg.cholesky_ex(p.T @ p)
        if bool(info.any()):
            return torch.linalg.qr(p).Q
        p = torch.linalg.solve_triangular(chol, p.T, upper=False).T
    return p


class LowRank(Compressor):
    layout_free = False  # works on the [positions, features] view; its own layout handling below

    def __init__(self, spec):
        super().__init__(spec)
        self.r = spec.params["r"]
        self.q: torch.Tensor | None = None  # [features, R]: the warm start

    def describe(self):
        return {"rank": self.r}

    def _dims(self, shape: torch.Size) -> tuple[int, int, int]:
        """(positions, features, rank) of a tensor of this shape."""
        if len(shape) == 0:
            return 1, 1, 1
        c = shape[feature_dim(len(shape))]
        n = shape.numel() // max(c, 1)
        return n, c, max(1, min(self.r, n, c))

    def _array_bits(self, shape):
        n, c, r = self._dims(shape)
        return [32 * n * r, 32 * c * r]

    def _warm(self, c: int, r: int, device) -> torch.Tensor:
        if self.q is None or self.q.shape != (c, r) or self.q.device != device:
            g = torch.Generator().manual_seed(SEED)
            self.q = torch.randn(c, r, generator=g).to(device)
        return self.q

    def _factors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One warm-started power iteration on x (fp32): (P orthonormal [N, R], Q [C, R]); Q is kept."""
        n, c, r = self._dims(x.shape)
        q0 = self._warm(c, r, x.device)
        m3 = batched(x)
        if m3 is None:  # [positions, features] (a free view unless x is strided otherwise)
            m = as_rows(x)
            p = orthonormal(m @ q0)
            q = m.T @ p
        else:  # [A, C, S]: P's rows for positions (a, s) in order, from A products each
            a = m3.shape[0]
            p = orthonormal(torch.bmm(m3.mT, q0.expand(a, c, r)).reshape(n, r))
            q = torch.bmm(m3, p.view(a, -1, r)).sum(0)
        self.q = q
        return p, q

    def roundtrip(self, x):
        x = x.detach()
        if x.numel() == 0:
            return x.clone(), 0
        p, q = self._factors(x.to(torch.float32))
        check_finite(x, q, q)  # a NaN or inf anywhere in x reaches every column of Q: no extra pass over x
        return like(self._reconstruct(p, q, x.shape), x), self.bits(x.shape)

    def encode(self, x):
        x = x.detach()
        if x.numel() == 0:
            return Payload(tuple(x.shape), x.dtype, [])
        p, q = self._factors(x.to(torch.float32))
        check_finite(x, q, q)
        return Payload(tuple(x.shape), x.dtype, [p.reshape(-1).contiguous().cpu(), q.reshape(-1).contiguous().cpu()])

    def decode(self, payload, device=None):
        shape = torch.Size(payload.shape)
        if shape.numel() == 0:
            return torch.empty(shape, dtype=payload.dtype, device=device)
        n, c, r = self._dims(shape)
        p, q = (a.to(device) for a in payload.arrays)
        return self._reconstruct(p.view(n, r), q.view(c, r), shape).contiguous().to(payload.dtype)

    def _reconstruct(self, p: torch.Tensor, q: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """P Q^T in the tensor's shape, from contiguous factors, by the shape alone (sender and
        receiver alike, so both get the same bits): with positions after the features (a
        [B,C,H,W] activation), A products Q P_a^T written contiguous; else one [N, C] product."""
        p, q = p.contiguous(), q.contiguous()
        a, c, s = around_features(shape)
        if s == 1:
            return from_rows(p @ q.T, shape)
        return torch.bmm(q.expand(a, c, q.shape[1]), p.view(a, s, -1).mT).view(shape)

    # --- the warm start is state: it travels with the trial's checkpoint ---------------
    def state(self) -> dict:
        return {"q": self.q}

    def load_state(self, state: dict) -> None:
        q = state.get("q")
        self.q = None if q is None else q.clone()
