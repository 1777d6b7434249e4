"""Where the boundaries go: cut points counted in blocks, or named modules.

Blocks: MobileNetV2, each ``features[i]`` then the classifier head; EfficientNet-Lite, the
stem, each of ``_blocks``, the conv head, then ``_fc``; BERT/RoBERTa, each encoder layer then
the classifier head. ``first:K`` cuts after the K-th block, ``last:M`` before the last M
blocks, ``after:<module.path>`` after a named module. Boundaries are attached with forward
hooks (the model is not rewritten) and come back in forward order.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from torch import nn

from compression import Boundary


@dataclass
class CutPoint:
    """The activation after a block: a module's output (post) or its successor's input (pre)."""

    name: str
    module: nn.Module
    pre: bool = False


def cut_points(model: nn.Module) -> tuple[list[CutPoint], int]:
    """(the cut after each block but the last, number of blocks) for the supported families."""
    if hasattr(model, "features") and hasattr(model, "classifier"):  # torchvision MobileNetV2
        feats = model.features
        cuts = [CutPoint(f"features.{i}", m) for i, m in enumerate(feats)]
        return cuts, len(feats) + 1
    if hasattr(model, "_blocks") and hasattr(model, "_fc"):  # EfficientNet(-Lite)
        blocks = model._blocks
        cuts = [CutPoint("_blocks.0 (input: stem output)", blocks[0], pre=True)]
        cuts += [CutPoint(f"_blocks.{i}", m) for i, m in enumerate(blocks)]
        cuts.append(CutPoint("_avg_pooling (input: conv head output)", model._avg_pooling, pre=True))
        return cuts, len(blocks) + 3
    base = getattr(model, "base_model", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is not None:  # Hugging Face BERT / RoBERTa / MiniLM
        prefix = f"{model.base_model_prefix}.encoder.layer" if base is not model else "encoder.layer"
        cuts = [CutPoint(f"{prefix}.{i}", m) for i, m in enumerate(layers)]
        return cuts, len(layers) + 1
    raise ValueError(f"placement: cannot count blocks of {type(model).__name__}; use after:<module.path>")


_TERM = re.compile(r"^(first|last):(\d+)$")


def terms(placement: str) -> list[str]:
    """The comma-separated terms of a placement; each names one cut point."""
    return [t.strip() for t in str(placement).split(",") if t.strip()]


def resolve(model: nn.Module, placement: str) -> list[CutPoint]:
    """The cut points a placement string names, in forward order; ValueError if bad."""
    words = terms(placement)
    if not words:
        raise ValueError("placement '': give first:K, last:M, both, or after:<module.path>")
    if all(t.startswith("after:") for t in words):
        names = dict(model.named_modules())
        order = {n: i for i, n in enumerate(names)}
        cuts = []
        for t in words:
            path = t[len("after:") :]
            if path not in names or path == "":
                close = difflib.get_close_matches(path, [n for n in names if n], n=5, cutoff=0.5)
                hint = f"close: {', '.join(close)}" if close else "see model.named_modules()"
                raise ValueError(f"placement {placement!r}: no module {path!r} ({hint})")
            cuts.append(CutPoint(path, names[path]))
        if len({c.name for c in cuts}) != len(cuts):
            raise ValueError(f"placement {placement!r}: the same module is named twice")
        return sorted(cuts, key=lambda c: order[c.name])
    points, nblocks = cut_points(model)
    picked: dict[str, int] = {}
    for t in words:
        m = _TERM.match(t)
        if not m or m.group(1) in picked:
            raise ValueError(
                f"placement {placement!r}: term {t!r} not understood; use first:K, last:M "
                f"(each at most once, K and M in 1..{nblocks - 1}) or after:<module.path>"
            )
        k = int(m.group(2))
        if not 1 <= k <= nblocks - 1:
            raise ValueError(
                f"placement {placement!r}: {m.group(1)}:{k} out of range; this model has "
                f"{nblocks} blocks, so K and M must be in 1..{nblocks - 1}"
            )
        picked[m.group(1)] = k - 1 if m.group(1) == "first" else nblocks - k - 1
    idx = sorted(picked.values())
    if len(picked) == 2 and picked["first"] >= picked["last"]:
        raise ValueError(
            f"placement {placement!r}: the cuts overlap (first:K must cut before last:M; "
            f"with {nblocks} blocks, K + M <= {nblocks - 1})"
        )
    return [points[i] for i in idx]


def _post_hook(boundary: Boundary):
    def hook(module, inputs, output):
        if isinstance(output, tuple):
            return (boundary(output[0]),) + tuple(output[1:])
        return boundary(output)

    return hook


def _pre_hook(boundary: Boundary):
    def hook(module, inputs):
        return (boundary(inputs[0]),) + tuple(inputs[1:])

    return hook


def attach(model: nn.Module, placement: str, fwd, bwd=None) -> list[Boundary]:
    """Insert a Boundary at each cut point; ``detach(boundaries)`` takes them out again."""
    boundaries = []
    for cut in resolve(model, placement):
        b = Boundary(fwd, bwd, name=cut.name)
        if cut.pre:
            b.handle = cut.module.register_forward_pre_hook(_pre_hook(b))
        else:
            b.handle = cut.module.register_forward_hook(_post_hook(b))
        boundaries.append(b)
    return boundaries


def detach(boundaries: list[Boundary]) -> None:
    for b in boundaries:
        b.handle.remove()
