"""The Compressor interface shared by every method, and the helpers they use."""

from __future__ import annotations

import os

import torch

from .layout import Layout, memory_flat, restore_into
from .payload import Payload, header_nbytes
from .spec import Spec


class NonFiniteError(ValueError):
    """The tensor to compress holds NaN or inf values."""


def check_finite(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> None:
    """min/max already computed (NaN propagates through them): one sync, no extra pass."""
    if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{bad} non-finite values (NaN/inf) in a tensor of shape {list(x.shape)}")


def compile_mode() -> str:
    """COMPSWEEP_COMPILE: 0 (eager), 1 (always torch.compile), auto (tensors >= 256k values)."""
    return os.environ.get("COMPSWEEP_COMPILE", "auto").strip().lower()


COMPILE_MIN_NUMEL = 1 << 18
# Compiled variants kept per kernel: one per (bit width, group count), never per shape
# (kernels are compiled with dynamic shapes), so a worker that runs many trials keeps
# using compiled code instead of falling back to eager after dynamo's default of 8.
RECOMPILE_LIMIT = 64


def will_compile(numel: int) -> bool:
    mode = compile_mode()
    return mode in ("1", "true", "yes", "on") or (mode == "auto" and numel >= COMPILE_MIN_NUMEL)


class Lazy:
    """torch.compile a kernel on first use (dynamic shapes), so importing compression stays
    fast and a new batch or sequence length never recompiles inside a timed step."""

    instances: list[Lazy] = []

    def __init__(self, fn):
        self.fn = fn
        self.compiled = None
        self.calls_compiled = 0
        Lazy.instances.append(self)

    def __call__(self, numel: int, *args):
        if not will_compile(numel):
            return self.fn(*args)
        if self.compiled is None:
            import logging

            import torch._dynamo

            if not torch.cuda.is_available():  # inductor's "No CUDA runtime is found" is noise on a CPU
                logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

            cfg = torch._dynamo.config
            for name in ("recompile_limit", "cache_size_limit"):
                if hasattr(cfg, name) and getattr(cfg, name) < RECOMPILE_LIMIT:
                    setattr(cfg, name, RECOMPILE_LIMIT)
            self.compiled = torch.compile(self.fn, dynamic=True)
        self.calls_compiled += 1
        return self.compiled(*args)


class Compressor:
    """One instance per boundary and direction. Subclasses implement the _methods."""

    spec: Spec
    # --- what a Boundary asks of a method (it never switches on the method's type or name) ---
    stateful: bool = False  # keeps per-example state: needs the batch's example ids; checkpointed
    forward_only: bool = False  # meaningless for a gradient (per-example state)
    backward_only: bool = False  # needs what its forward kept (top-k's positions)
    pairs_with: str | None = None  # a backward-only method: the forward method it needs
    learned: bool = False  # has trainable maps around the crossing (``maps(features, device)``)

    def __init__(self, spec: Spec):
        self.spec = spec

    def default_backward(self) -> str | Spec:
        """The gradient's spec when the user gives none: by default the forward's own."""
        return self.spec

    def send(self, x: torch.Tensor, ids: torch.Tensor | None = None) -> tuple[torch.Tensor, int, object]:
        """One crossing of a cut: (what the receiver reconstructs, exact payload bytes, what a
        paired backward needs from this forward or None). ``ids``: the batch's example ids on a
        training forward of a stateful method, else None."""
        x_hat, _ = self.roundtrip(x)
        return x_hat, self.payload_nbytes(x.shape), None

    def describe(self) -> dict[str, object]:
        """What the spec says about itself for reports (``schema.DESCRIBE``): the bits of its code
        per value, split bits, kept fraction, k-means iterations, rank; None where it has none. A
        method states its own, so a new one gets its report columns without touching reports."""
        return {}

    def exact_values(self, x: torch.Tensor) -> int:
        """How many of the last ``send``'s values crossed exactly, not compressed (AQ-SGD's first
        sightings, all of ``none``'s): a compressor that sent most of its values exactly cannot
        carry a claim about compression."""
        return 0

    def exact_fraction(self, epochs: int) -> float:
        """The fraction of its training values this method sends exactly over a run of ``epochs``
        epochs that sees every example once an epoch (what a plan can check before any run)."""
        return 0.0

    def send_back(self, g: torch.Tensor, saved: object, layout: tuple) -> tuple[torch.Tensor, int]:
        """The gradient's crossing; ``saved`` is what the forward's ``send`` kept, ``layout`` the
        forward activation's (shape, strides)."""
        g_hat, nbytes, _ = self.send(g)
        return g_hat, nbytes

    @property
    def buffer_bytes(self) -> int:
        """Memory a stateful method keeps per example (both ends' copy of one)."""
        return 0

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass

    # --- public API -------------------------------------------------------
    # Methods whose groups are runs of logical positions (block128) cannot work in memory
    # order; they see a contiguous copy and their output is copied back into the layout.
    layout_free: bool = True

    def roundtrip(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Fast path used in training: the reconstruction and the payload bits (header aside).
        The reconstruction has the shape, dtype, device and strides of ``x``: a dense input
        (contiguous, channels_last, ...) is compressed in memory order with no layout copy."""
        x = x.detach()
        if x.numel() == 0:
            return x.clone(), 0
        if self.layout_free:
            flat, layout, restore = memory_flat(x)
        else:
            flat, layout, restore = x.reshape(-1), Layout(x.shape), restore_into(x)
        x_hat = self._roundtrip(flat.to(torch.float32), layout).to(x.dtype)
        return restore(x_hat), self.bits(x.shape)

    def encode(self, x: torch.Tensor) -> Payload:
        """The wire format: codes in logical (C-contiguous) order whatever the input's layout."""
        xf = x.detach().reshape(-1).to(torch.float32)
        arrays = self._encode(xf, Layout(x.shape)) if xf.numel() else []
        return Payload(tuple(x.shape), x.dtype, [a.reshape(-1).contiguous().cpu() for a in arrays])

    def decode(self, payload: Payload, device: torch.device | str | None = None) -> torch.Tensor:
        shape = torch.Size(payload.shape)
        if shape.numel() == 0:
            return torch.empty(shape, dtype=payload.dtype, device=device)
        arrays = [a.to(device) for a in payload.arrays]
        return self._decode(arrays, shape).to(payload.dtype).view(shape)

    def bits(self, shape) -> int:
        """Information bits on the wire: packed codes and tables, without header and padding."""
        return sum(self._array_bits(torch.Size(shape)))

    def payload_nbytes(self, shape) -> int:
        """Exact ``encode(x).nbytes`` for a tensor of this shape."""
        shape = torch.Size(shape)
        if shape.numel() == 0:
            return header_nbytes(len(shape), 0)
        sizes = self._array_bits(shape)
        return header_nbytes(len(shape), len(sizes)) + sum(-(-b // 8) for b in sizes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec})"

    # --- per method ------------------------------------------------------
    def _array_bits(self, shape: torch.Size) -> list[int]:
        raise NotImplementedError

    def _roundtrip(self, xf: torch.Tensor, layout: Layout) -> torch.Tensor:
        """``xf``: the values in memory order (``layout`` says where each logical dim lies);
        returns the reconstruction in the same order."""
        return self._decode(self._encode(xf, layout), layout.shape)

    def _encode(self, xf: torch.Tensor, layout: Layout) -> list[torch.Tensor]:
        raise NotImplementedError

    def _decode(self, arrays: list[torch.Tensor], shape: torch.Size) -> torch.Tensor:
        raise NotImplementedError


__all__ = [
    "Compressor",
    "Layout",
    "Lazy",
    "NonFiniteError",
    "check_finite",
]


class Wraps(Compressor):
    """A method whose crossing is another compressor's (``inner``): AQ-SGD's direct path, the
    learned bottleneck's code. The wire, the bits and the fast path are the inner one's."""

    inner: Compressor

    def roundtrip(self, x):
        return self.inner.roundtrip(x)

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, payload, device=None):
        return self.inner.decode(payload, device)

    def bits(self, shape):
        return self.inner.bits(shape)

    def payload_nbytes(self, shape):
        return self.inner.payload_nbytes(shape)
