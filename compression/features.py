"""The feature dim of an activation (the channels of a [B,C,H,W] one, the last dim otherwise) as
the columns of a [positions, features] matrix, and back: a free view for a channels_last or
last-dim-contiguous input, and a result handed on with the input's own strides. The methods that
work per feature vector (Hadamard tiles, low rank, the learned bottleneck) share it."""

from __future__ import annotations

import math

import torch


def feature_dim(ndim: int) -> int:
    """Tiles run along the channels of a 4-D [B,C,H,W] activation, else along the last dim."""
    return 1 if ndim == 4 else ndim - 1


def around_features(shape) -> tuple[int, int, int]:
    """(values before the feature dim, features, values after it): a contiguous tensor of this
    shape is a free view [A, C, S]."""
    if len(shape) == 0:
        return 1, 1, 1
    f = feature_dim(len(shape))
    return math.prod(shape[:f]), shape[f], math.prod(shape[f + 1 :])


def as_rows(x: torch.Tensor, width: int | None = None) -> torch.Tensor:
    """x as [positions, features] (or rows of ``width`` features)."""
    if x.dim() == 0:
        return x.reshape(1, 1)
    f = feature_dim(x.dim())
    return x.movedim(f, -1).reshape(-1, width or x.shape[f])


def from_rows(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Rows back to a tensor of ``shape`` (a view with the feature dim innermost in memory)."""
    if len(shape) == 0:
        return rows.reshape(shape)
    f = feature_dim(len(shape))
    moved = list(shape)
    moved.append(moved.pop(f))
    return rows.reshape(moved).movedim(-1, f)


def like(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y with x's dtype and strides (free when they already agree, as for a channels_last input)."""
    y = y.to(x.dtype)
    return y if y.stride() == x.stride() else torch.empty_like(x).copy_(y)
