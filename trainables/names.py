"""The names a trial config chooses from, owned here without importing torch, so the CLI builds
its choices from them (``trainables.cv`` and ``trainables.runtime`` use the same tuples)."""

from __future__ import annotations

MODELS = ("mobilenet_v2", "efficientnet_lite0")  # CV models
RECIPES = ("legacy", "finetune")  # how a CV model trains (trainables.cv.RECIPES holds what each is)
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "fp16")
