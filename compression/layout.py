"""Where a tensor's values lie in memory, so that compressors work on them in place.

A dense tensor (contiguous, channels_last, or any permutation) is one flat run of memory:
compressors read that run as a 1-D view and write their output into a fresh run that is
given back with the input's own strides. No copy changes the memory format, so the layers
after a cut run in the format they were already using (on CPU, channels_last convolutions
are about 2x faster than contiguous NCHW ones after a format change).

Grouping stays logical: ``channel_view`` finds dim 1 wherever it lies in memory, and
``positions`` turns logical flat indices (a fixed subsample) into memory offsets, so every
method gives the same values whatever the input's layout.
"""

from __future__ import annotations

import math

import torch


def is_dense(shape: torch.Size, strides: tuple[int, ...]) -> bool:
    """True when the tensor covers one run of memory with no gaps or overlaps."""
    dims = sorted((s, n) for n, s in zip(shape, strides, strict=True) if n != 1)
    expect = 1
    for s, n in dims:
        if s != expect:
            return False
        expect *= n
    return True


class Layout:
    """The logical shape of a tensor and the strides of its dims in a flat memory run."""

    def __init__(self, shape, strides=None):
        self.shape = torch.Size(shape)
        self.strides = tuple(strides) if strides is not None else contiguous_strides(self.shape)

    @property
    def numel(self) -> int:
        return self.shape.numel()

    @property
    def is_contiguous(self) -> bool:
        pairs = zip(self.strides, contiguous_strides(self.shape), self.shape, strict=True)
        return all(s == c for s, c, n in pairs if n != 1)

    def channel_view(self, flat: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """``flat`` (memory order) as [rows, C, cols] with C the logical dim ``dim``: one channel
        is one [:, c, :] slice, whatever the memory format."""
        if len(self.shape) <= dim:
            return flat.view(1, 1, -1)
        c, sc = self.shape[dim], self.strides[dim]
        if c == 1:
            return flat.view(1, 1, -1)
        inner = math.prod(n for n, s in zip(self.shape, self.strides, strict=True) if n != 1 and s < sc)
        return flat.view(-1, c, inner)

    def positions(self, logical: torch.Tensor) -> torch.Tensor:
        """Memory offsets of logical flat indices (the identity for a contiguous tensor)."""
        if self.is_contiguous:
            return logical
        key = (tuple(self.shape), self.strides, logical.data_ptr(), logical.numel(), str(logical.device))
        if key not in _POSITIONS:
            out = torch.zeros_like(logical)
            rem = logical.clone()
            for n, s in zip(reversed(self.shape), reversed(self.strides), strict=True):
                out += (rem % n) * s
                rem //= n
            if len(_POSITIONS) > 64:
                _POSITIONS.pop(next(iter(_POSITIONS)))
            _POSITIONS[key] = out
        return _POSITIONS[key]


_POSITIONS: dict[tuple, torch.Tensor] = {}  # (shape, strides, which indices) -> memory offsets


def contiguous_strides(shape) -> tuple[int, ...]:
    out, acc = [], 1
    for n in reversed(tuple(shape)):
        out.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(out))


def flat_view(x: torch.Tensor) -> tuple[torch.Tensor, Layout] | None:
    """A 1-D view of a dense tensor's memory and its layout; None if it is not dense."""
    if x.numel() == 0 or not is_dense(x.shape, x.stride()):
        return None
    return x.as_strided((x.numel(),), (1,)), Layout(x.shape, x.stride())


def as_layout(flat: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A fresh flat run given back with the strides of ``like`` (which ``flat_view`` read)."""
    return flat.as_strided(like.shape, like.stride())


def memory_flat(x: torch.Tensor):
    """(1-D values of x in memory order, its Layout, restore): ``restore(flat)`` gives a new
    flat run back as a tensor with x's shape and strides. A tensor that is not dense (a
    strided slice) is read through a contiguous copy and restored with ``empty_like``."""
    dense = flat_view(x)
    if dense is not None:
        flat, layout = dense
        return flat, layout, lambda f: as_layout(f, x)

    return x.reshape(-1), Layout(x.shape), restore_into(x)


def restore_into(x: torch.Tensor):
    """restore(flat): a new tensor like x (``empty_like``: x's layout where it is dense) holding flat."""

    def restore(f: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x, dtype=f.dtype)
        out.copy_(f.view(x.shape))
        return out

    return restore


def like_strides(g: torch.Tensor, shape, strides) -> torch.Tensor:
    """g laid out as the forward's input was (a copy only when it is not): a gradient read at
    positions that the forward picked in memory order must be in the forward's layout."""
    if not is_dense(torch.Size(shape), tuple(strides)):  # the forward read a contiguous copy
        return g.contiguous()
    if tuple(g.stride()) == tuple(strides):
        return g
    out = torch.empty_strided(tuple(shape), tuple(strides), dtype=g.dtype, device=g.device)
    out.copy_(g)
    return out


__all__ = [
    "Layout",
    "as_layout",
    "contiguous_strides",
    "flat_view",
    "is_dense",
    "like_strides",
    "memory_flat",
    "restore_into",
]
