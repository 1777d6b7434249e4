"""compsweep.compression: activation/gradient compressors with exact wire bytes.

    >>> import compression, torch
    >>> c = compression.build("sortquant:b=6,s=2")
    >>> x_hat, bits = c.roundtrip(torch.randn(16, 24, 56, 56))
    >>> p = c.encode(x); p.nbytes; compression.Payload.from_bytes(p.to_bytes())

Pure torch: imports nothing else of the project, nor ray, mlflow, transformers, torchvision.
"""

from __future__ import annotations

from .base import Compressor, NonFiniteError
from .bottleneck import Bottleneck
from .boundary import Boundary, uncompressed
from .delta import Delta
from .fp8 import FP8
from .hadamard import Hadamard
from .kmeans import KMeans
from .lowrank import LowRank
from .none import NoCompression
from .payload import Payload
from .sortquant import SortQuant
from .spec import METHODS, Spec, SpecError, canonical, parse_spec
from .topk import Mask, TopK
from .uniform import Uniform

REGISTRY: dict[str, type[Compressor]] = {
    "none": NoCompression,
    "uniform": Uniform,
    "sortquant": SortQuant,
    "topk": TopK,
    "kmeans": KMeans,
    "delta": Delta,
    "mask": Mask,
    "fp8": FP8,
    "hadamard": Hadamard,
    "lowrank": LowRank,
    "bottleneck": Bottleneck,
}


def build(spec: str | dict | Spec) -> Compressor:
    """A compressor from a spec string (``"uniform:b=8"``), dict or Spec; SpecError if bad."""
    s = parse_spec(spec)
    return REGISTRY[s.method](s)


__all__ = [
    "METHODS",
    "Boundary",
    "Compressor",
    "NonFiniteError",
    "Payload",
    "Spec",
    "SpecError",
    "build",
    "canonical",
    "parse_spec",
    "uncompressed",
]
