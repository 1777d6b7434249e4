"""A learned bottleneck (Protocol Models, arXiv 2506.01260; MAPL, arXiv 2606.05484): a trainable
down-projection of the feature dim to R before the cut and an up-projection back after it, trained
with the model. What crosses is the R-dim code (optionally ``b``-bit absmax codes), and the gradient
comes back in the same R dims: a Boundary runs ``maps()`` around its crossing, so its autograd edge
sits on the code. The projections are the Boundary's parameters: they join the model's optimizer
and its checkpoint. Initialised as an orthonormal basis and its transpose (a projection onto a
random R-dim subspace), from a fixed seed.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Wraps
from .features import feature_dim
from .none import NoCompression
from .spec import Spec
from .uniform import Uniform

SEED = 0


class FeatureMap(nn.Module):
    """A linear map of the feature dim (channels of [B,C,H,W], the last dim otherwise) that hands
    on the strides a channels_last or contiguous input had."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)  # [in, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = feature_dim(x.dim())
        y = (x.movedim(f, -1) @ self.weight.to(x.dtype)).movedim(-1, f)
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            return y.contiguous(memory_format=torch.channels_last)
        return y.contiguous()


class Bottleneck(Wraps):
    learned = True  # a Boundary asks it for maps() and trains them

    def __init__(self, spec):
        super().__init__(spec)
        self.r = spec.params["r"]
        b = spec.params["b"]
        code = {"b": b, "group": "tensor", "round": "nearest", "range": "absmax", "clip": 100.0}
        self.inner = NoCompression(Spec("none")) if b == 32 else Uniform(Spec("uniform", code))

    def describe(self):
        return {"rank": self.r, **({"bits": self.inner.b} if hasattr(self.inner, "b") else {})}

    def default_backward(self) -> str:
        """The gradient of the code crosses as the code did (its R dims, the same bits)."""
        return str(self.inner.spec)

    def maps(self, features: int, device) -> tuple[nn.Module, nn.Module]:
        """(down [features -> R], up [R -> features]) for a cut of this many features."""
        r = min(self.r, features)
        g = torch.Generator().manual_seed(SEED)
        basis = torch.linalg.qr(torch.randn(features, r, generator=g)).Q  # orthonormal columns
        # two tensors of their own: QR's Q is column-major, so basis.T.contiguous() would be a view of
        # basis and the two maps one tied parameter (a pipeline trains each map on its own stage)
        own = torch.contiguous_format
        down, up = basis.clone(memory_format=own), basis.T.clone(memory_format=own)
        return FeatureMap(down.to(device)), FeatureMap(up.to(device))

    def send(self, x, ids=None):  # the code crosses through the inner quantizer (or as it is)
        return self.inner.send(x, ids)
