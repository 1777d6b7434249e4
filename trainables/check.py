"""Cheap checks of a trial config, run before Ray starts: task, paths, specs, placement.

The task's files go through the task's own loader (the trainable's check, not a copy), and
the placement is resolved on the model built on the meta device (no memory, no weights), so
a sweep refuses a bad cut in a second instead of failing every trial."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

import compression

from . import family, placement, task
from .common import ConfigError
from .runtime import check_names


def check_specs(config: dict) -> None:
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


ACTS = 0.5  # a compressor that sends more than this fraction of its values exactly never acted


def check_acts(config: dict) -> None:
    """Refuse a forward compressor that would send more than half its training values exactly
    in this run's epochs (AQ-SGD in one epoch sees every example once: all first sightings), with
    the epochs it needs."""
    spec = config.get("fwd") or "none"
    comp = compression.build(spec)
    epochs = int(family(config.get("task")).resolve(config)["epochs"])
    if comp.exact_fraction(epochs) <= ACTS or comp.exact_fraction(10**6) > ACTS:
        return  # acts, or never compresses anything (none)
    need = next(e for e in range(epochs + 1, 1000) if comp.exact_fraction(e) <= ACTS)
    raise ConfigError(
        f"fwd={spec}: in {epochs} epoch(s) it sends {comp.exact_fraction(epochs):.0%} of its forward values "
        f"exactly (every example's first sighting), so it never acts; give it at least {need} epochs "
        f"(3 send two thirds compressed), or the same steps over fewer images (limit_train)"
    )


def check_placement(config: dict) -> str:
    """The placement given (an empty one is refused: leave it out for the task's default)."""
    given = config.get("placement")
    if given is not None and not str(given).strip():
        raise ConfigError(
            "placement='': give cut points such as first:1,last:1, or leave it out for the task's default"
        )
    return given or task(config.get("task")).placement


def meta_model(config: dict) -> torch.nn.Module:
    """The task's model on the meta device, its files checked (weights, HF folder)."""
    t = task(config.get("task"))
    if t.family == "cv":
        from . import cv

        name = config.get("model") or t.model
        cv.load_weights(name, config.get("weights"))  # the trainable's own check of the file
        with torch.device("meta"):
            return cv.architecture(name, t.num_classes)
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from . import nlp

    model_dir = config.get("model_dir") or t.model or nlp.default_model_dir()
    if not (Path(model_dir) / "config.json").is_file():
        raise ConfigError(f"model_dir={model_dir!r}: not a Hugging Face model directory (no config.json)")
    hf_config = AutoConfig.from_pretrained(model_dir, num_labels=t.num_classes)
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(hf_config)


def check(config: dict) -> None:
    t = task(config.get("task"))
    family(t.name).resolve(config)  # the family's own key checks (recipe, eval_every)
    check_specs(config)
    check_acts(config)
    check_names(config.get("device"), config.get("precision"))  # the trial's own check (a GPU is the CLI's)
    cuts = check_placement(config)
    root = config.get("root")
    if root is not None and not Path(root).is_dir():
        raise ConfigError(f"root={root!r}: no such directory")
    _check_data(t.name, root)
    try:
        placement.resolve(meta_model(config), cuts)
    except ValueError as e:
        raise ConfigError(str(e)) from None


SMALL_DEV = 30  # fewer validation examples than this: a score moves in steps of 1/N or more


@lru_cache(maxsize=32)
def _check_data(name: str, root: str | None) -> None:
    """A task's files once per process (a sweep checks many configs of one task); a note when its
    validation split is too small to score (a one-row dev set scores 0 or 1)."""
    t = task(name)
    t.check(root)
    n = len(t.load(root, "dev")[-1])
    if n < SMALL_DEV:
        print(
            f"note: {name}: the validation split has {n} example(s); every score moves in steps of {1 / n:.2g} "
            f"(a run can report {t.metric}=1.0 by chance)",
            flush=True,
        )


def cut_shapes(config: dict) -> list[tuple[str, list[int]]]:
    """CV: the activation shape at each cut of a config (model on the meta device, no weights,
    no data): what a boundary sends per batch."""
    from . import cv

    cfg = cv.resolve(config)
    t = task(cfg["task"])
    with torch.device("meta"):
        model = cv.architecture(cfg["model"], t.num_classes)
        shapes: list[tuple[str, list[int]]] = []
        handles = []
        for cut in placement.resolve(model, cfg["placement"]):
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


__all__ = ["ACTS", "check", "check_acts", "check_placement", "cut_shapes"]
