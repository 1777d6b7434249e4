"""Tiny data and models made by the tests (no downloads)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np


def write_fashion_mnist(root: Path, n_train: int = 96, n_val: int = 48, seed: int = 0) -> Path:
    """idx-format gz files: class c draws bright pixels in row band c (learnable)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_val)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for i, c in enumerate(y):
            x[i, 2 * c : 2 * c + 3, :] = 250
        with gzip.open(root / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + x.tobytes())
        with gzip.open(root / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + y.tobytes())
    return root


def write_glue(root: Path, n: int = 64) -> Path:
    """CoLA, RTE, SST-2 and MRPC in the GLUE TSV layout; the label is carried by the last word of
    the first sentence (learnable)."""
    words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "home", "a", "big"]
    rng = np.random.default_rng(0)
    for sub in ("CoLA", "RTE", "SST-2", "MRPC"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        with open(root / "CoLA" / f"{split}.tsv", "w") as f:
            for i in range(n):
                sent = " ".join(rng.choice(words, size=5)) + (" good" if i % 2 else " bad")
                f.write(f'src\t{i % 2}\t\t{sent} "quoted\n')
        with open(root / "RTE" / f"{split}.tsv", "w") as f:
            f.write("index\tsentence1\tsentence2\tlabel\n")
            for i in range(n):
                lab = "entailment" if i % 2 else "not_entailment"
                f.write(f"{i}\t{' '.join(rng.choice(words, 6))}\t{' '.join(rng.choice(words, 3))}\t{lab}\n")
        with open(root / "SST-2" / f"{split}.tsv", "w") as f:
            f.write("sentence\tlabel\n")
            for i in range(n):
                f.write(f'{" ".join(rng.choice(words, 5))} {"good" if i % 2 else "bad"} "x\t{i % 2}\n')
        with open(root / "MRPC" / f"{split}.tsv", "w") as f:
            f.write("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
            for i in range(n):
                a, b = " ".join(rng.choice(words, 6)), " ".join(rng.choice(words, 4))
                f.write(f"{(i % 3) % 2}\t{100 + i}\t{200 + i}\t{a} {'same' if (i % 3) % 2 else 'other'}\t{b}\n")
    return root


def tiny_bert_dir(path: Path) -> Path:
    """A 2-layer, 32-wide BERT with MiniLM's real tokenizer files."""
    from transformers import BertConfig, BertForSequenceClassification

    from trainables.nlp import default_model_dir

    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    BertForSequenceClassification(cfg).save_pretrained(path)
    src = Path(default_model_dir())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).exists():
            shutil.copy(src / name, path / name)
    return path


def log_finished_runs(uri: str, name: str, trials: list[dict], metrics) -> None:
    """FINISHED trial runs written the way the sweep's MLflow callback writes them (params from
    schema.config_params, the tags reports read, final metrics); ``metrics(trial)`` gives a run's."""
    from mlflow.entities import Metric, Param

    import schema
    from schema.store import client, experiment_id

    c, exp = client(uri), experiment_id(uri, name)
    for t in trials:
        tags = {
            **schema.describe(t),
            schema.TAG_CONFIG_ID: schema.config_id(t),
            schema.TAG_SEED: str(t["seed"]),
            schema.TAG_TASK: t["task"],
            schema.TAG_PLACEMENT: t["placement"],
            schema.TAG_STOPPED: "false",
        }
        run = c.create_run(exp, tags=tags)
        params = [Param(k, v) for k, v in schema.config_params(t).items()]
        c.log_batch(run.info.run_id, params=params, metrics=[Metric(k, float(v), 0, 1) for k, v in metrics(t).items()])
        c.set_terminated(run.info.run_id, "FINISHED")
