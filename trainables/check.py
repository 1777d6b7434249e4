"""Cheap checks of a trial config, run before Ray starts: task, paths, specs, placement.

The placement is resolved on the model built on the meta device (no memory, no weights),
so a sweep refuses a bad cut in a second instead of failing every trial."""

from __future__ import annotations

from pathlib import Path

import torch

import compression

from . import CV_TASKS, TASKS, default_placement, placement
from .common import ConfigError


def check(config: dict) -> None:
    task = config.get("task")
    if task not in TASKS:
        raise ConfigError(f"task={task!r}: must be one of {', '.join(TASKS)}")
    for key in ("fwd", "bwd"):
        if config.get(key) is not None:
            if not str(config[key]).strip():
                raise ConfigError(f"{key}='': give a spec such as uniform:b=8 (or none)")
            try:
                compression.parse_spec(config[key])
            except compression.SpecError as e:
                raise ConfigError(f"{key}: {e}") from None
    try:
        compression.Boundary(config.get("fwd") or "none", config.get("bwd") or None)
    except ValueError as e:  # fwd/bwd combinations: mask needs topk, delta is forward only
        raise ConfigError(str(e)) from None
    root = config.get("root")
    if root is not None and not Path(root).is_dir():
        raise ConfigError(f"root={root!r}: no such directory")
    if task in CV_TASKS:
        from . import cv

        if task == "cifar10" and not (root and (Path(root) / "cifar-10-batches-py").is_dir()):
            raise ConfigError(f"cifar10: --root {root!r} must hold the official cifar-10-batches-py/ folder")
        if task == "fashion_mnist":
            cv.load_fashion_mnist(root, train=True)
            cv.load_fashion_mnist(root, train=False)
        name = config.get("model") or cv.DEFAULTS["model"]
        cv.load_weights(name, config.get("weights"))  # the trainable's own check of the file
        with torch.device("meta"):
            model = cv._architecture(name, 10)
    else:
        from transformers import AutoConfig, AutoModelForSequenceClassification

        from . import nlp

        if task in ("cola", "rte"):
            sub = {"cola": "CoLA", "rte": "RTE"}[task]
            if not root or not (Path(root) / sub / "train.tsv").is_file():
                raise ConfigError(f"{task}: --root {root!r} must hold {sub}/train.tsv and {sub}/dev.tsv (GLUE)")
            for split in ("train", "dev"):  # the trainable's own reader: columns, labels, non-empty
                nlp.load_glue(task, root, split)
        else:
            nlp.rotten_tomatoes_file(root)
        model_dir = config.get("model_dir") or nlp.default_model_dir()
        if not (Path(model_dir) / "config.json").is_file():
            raise ConfigError(f"model_dir={model_dir!r}: not a Hugging Face model directory (no config.json)")
        hf_config = AutoConfig.from_pretrained(model_dir, num_labels=2)
        with torch.device("meta"):
            model = AutoModelForSequenceClassification.from_config(hf_config)
    try:
        placement.resolve(model, config.get("placement") or default_placement(task))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def cut_shapes(config: dict) -> list[tuple[str, list[int]]]:
    """CV: the activation shape at each cut of a config (model on the meta device, no weights,
    no data): what a boundary sends per batch."""
    import torch

    from . import cv
    from .placement import resolve

    cfg = {**cv.DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    name = cfg["model"]
    with torch.device("meta"):
        if name == "efficientnet_lite0":
            from efficientnet_lite_pytorch import EfficientNet

            model = EfficientNet.from_name("efficientnet-lite0", num_classes=10)
        else:
            from torchvision.models import mobilenet_v2

            model = mobilenet_v2(num_classes=10)
        shapes: list[tuple[str, list[int]]] = []
        handles = []
        for cut in resolve(model, cfg["placement"] or default_placement(cfg["task"])):
            if cut.pre:
                h = cut.module.register_forward_pre_hook(lambda m, i, n=cut.name: shapes.append((n, list(i[0].shape))))
            else:
                h = cut.module.register_forward_hook(lambda m, i, o, n=cut.name: shapes.append((n, list(o.shape))))
            handles.append(h)
        size = int(cfg["image_size"])
        model.eval()
        model(torch.empty(int(cfg["batch_size"]), 3, size, size))
        for h in handles:
            h.remove()
    return shapes


__all__ = ["check", "cut_shapes"]
