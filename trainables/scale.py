"""The scale a config trains at: optimizer steps, training examples, input, batch, epochs, and
how many values one per-tensor quantization range spans at its first cut. A finding holds at
the scale its runs had; the results page states it beside every section and claim."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from . import family, task


@dataclass(frozen=True)
class Scale:
    steps: int
    examples: int
    input: str  # "64 px" / "48 tokens"
    batch: int
    epochs: int
    cut: tuple[int, ...]  # the first cut's activation shape per batch

    @property
    def range_values(self) -> int:
        """Values one per-tensor range spans at the first cut (the whole batch's activation)."""
        return math.prod(self.cut)

    def brief(self) -> str:
        return (
            f"{self.steps} steps ({self.epochs} x {self.examples} / batch {self.batch}), {self.input}, "
            f"range {values(self.range_values)} values"
        )

    def text(self) -> str:
        return (
            f"{self.steps} optimizer steps ({self.epochs} epoch{'s' if self.epochs != 1 else ''} x "
            f"{self.examples} training examples / batch {self.batch}), input {self.input}; a per-tensor "
            f"range spans {values(self.range_values)} values at the first cut {list(self.cut)}"
        )


def values(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else str(n)


@lru_cache(maxsize=64)
def _train_size(name: str, root: str | None) -> int:
    return len(task(name).load(root, "train")[-1])


def scale(config: dict) -> Scale:
    """The config's scale, with its family's defaults (no training; the model on the meta device)."""
    t = task(config.get("task"))
    cfg = family(t.name).resolve(config)
    limit = cfg.get("limit_train")
    n = _train_size(t.name, cfg.get("root")) if not limit else int(limit)
    if limit:
        n = min(n, int(limit))
    batch, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    if t.family == "cv":
        from .check import cut_shapes

        shapes = cut_shapes(cfg)
        cut = tuple(shapes[0][1]) if shapes else (batch,)
        where = f"{int(cfg['image_size'])} px"
    else:
        from transformers import AutoConfig

        from . import nlp

        model_dir = cfg.get("model_dir") or t.model or nlp.default_model_dir()
        hidden = int(AutoConfig.from_pretrained(model_dir).hidden_size)
        cut = (batch, int(cfg["max_length"]), hidden)  # padded to the batch's longest, at most this
        where = f"at most {int(cfg['max_length'])} tokens"
    return Scale(epochs * (n // batch), n, where, batch, epochs, cut)


__all__ = ["Scale", "scale", "values"]
