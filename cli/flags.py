"""The flag groups several subcommands share, with their choices from their owners."""

from __future__ import annotations

import argparse
import os

import schema
from trainables import names

# ---------------------------------------------------------------- flag groups
TRAINING_FLAGS = (
    "root",
    "model_dir",
    "weights",
    "model",
    "recipe",
    "epochs",
    "limit_train",
    "limit_val",
    "image_size",
    "max_length",
    "batch_size",
    "lr",
    "eval_every",
    "device",
    "precision",
    "deterministic",
)


def add_training_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (override the space's defaults)")
    g.add_argument("--root", help="data folder (cifar-10-batches-py/ parent, or GLUE folder)")
    g.add_argument("--model-dir", help="local Hugging Face model folder (NLP); default MiniLM-L6")
    g.add_argument(
        "--weights",
        help="ImageNet .pth for the CV model (efficientnet_lite0: the packaged weights by default, 'none' for scratch)",
    )
    g.add_argument("--model", choices=names.MODELS, help="CV model")
    g.add_argument(
        "--recipe",
        choices=names.RECIPES,
        help="CV: how the model trains (finetune: AdamW, BatchNorm statistics that follow the data; "
        "legacy: the SGD recipe of results v2)",
    )
    g.add_argument("--epochs", type=int, help="passes over the training subset (default: the space's)")
    g.add_argument("--limit-train", type=int, help="fixed subset of N training examples")
    g.add_argument("--limit-val", type=int, help="fixed subset of N validation examples")
    g.add_argument(
        "--image-size",
        type=int,
        help="CV input in px, 32 or more (32: native; the CV default upsamples to 64; 224: the study's cut sizes)",
    )
    g.add_argument("--max-length", type=int, help="NLP: max tokens (default 128)")
    g.add_argument("--batch-size", type=int, help="examples a step (default: CV 64, NLP 32)")
    g.add_argument("--lr", type=float)
    g.add_argument("--eval-every", type=int, help="steps between validations for the curve (default: ~8 a run)")
    g.add_argument(
        "--device", choices=names.DEVICES, help="auto (default): the GPU Ray gave the trial if any, else CPU"
    )
    g.add_argument(
        "--precision", choices=names.PRECISIONS, help="autocast: bf16 (CPU or GPU), fp16 (GPU, grad scaler)"
    )
    g.add_argument(
        "--deterministic", action="store_true", default=None, help="bit-identical reruns on one GPU (slower kernels)"
    )


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where trials run and log")
    g.add_argument(
        "--dry-run", action="store_true", help="check everything and list the trials, then stop (no Ray, no MLflow run)"
    )
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite store in mlruns/)")
    g.add_argument("-v", "--verbose", action="count", default=0, help="also Ray Tune's own trial table")
    g.add_argument("--storage", help="Ray Tune results/checkpoints folder (default ray_results/)")
    g.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep every trial's last checkpoint (~40 MB a CV trial) after a complete sweep; by default they "
        "are deleted once nothing is left to --resume",
    )
    g.add_argument("--address", help="join a running Ray cluster (e.g. auto or ray://host:10001)")
    g.add_argument("--cpus-per-trial", type=float, default=1.0)
    g.add_argument("--gpus-per-trial", type=float, default=0.0)
    g.add_argument("--max-concurrent", type=int, help="default: as many trials as the resources fit")
    g.add_argument(
        "--retries",
        type=int,
        help="times a trial whose worker died resumes from its last epoch checkpoint "
        "(default 2 with --address, 0 locally); a trial that raises is never retried",
    )


def add_store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="MLflow experiment (the sweep's --name)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite store in mlruns/)")


def add_selection_flags(p: argparse.ArgumentParser, top: int) -> None:
    """What `best` and `rerun` rank: a metric, under an optional byte/ratio budget or link."""
    p.add_argument("--metric", default=schema.VAL_ACC, help=f"one of {', '.join(schema.REPORTED)}")
    p.add_argument("--mode", choices=["max", "min"], default="max")
    p.add_argument("--top", type=int, default=top)
    p.add_argument("--max-ratio", type=float, help="only configs with compressed/fp32 ratio <= R")
    p.add_argument("--max-bytes", type=float, help="only configs with bytes per sample (fwd + bwd) <= N")
    p.add_argument("--link", help="rank by estimated batch time at this link (e.g. 100mbit) among configs "
                   "within --tolerance of the best metric")  # fmt: skip
    p.add_argument("--tolerance", type=float, default=0.01, help="metric tolerance for --link (default 0.01 = 1 pt)")
    p.add_argument("--by", choices=["batch", "tta"], default="batch",
                   help="with --link: rank by estimated batch time (batch) or by time to the target (tta)")  # fmt: skip
    add_target_gap(p)
    p.add_argument("--include-stopped", action="store_true", help="count runs a scheduler stopped early")


def add_pairing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pair-across-machines",
        action="store_true",
        help="pair a seed's runs that ran on two machines (default: left out and counted)",
    )


def add_target_gap(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target-gap",
        type=float,
        default=0.01,
        help="time to accuracy: the target is the baseline's final metric minus this (default 0.01 = 1 pt)",
    )


def training_overrides(args: argparse.Namespace) -> dict:
    out = {k: getattr(args, k, None) for k in TRAINING_FLAGS}
    for k in ("root", "model_dir", "weights"):  # trials run in their own folders: absolute paths
        if out.get(k) and out[k] not in ("none", "imagenet"):
            out[k] = os.path.abspath(out[k])
    return {k: v for k, v in out.items() if v is not None}
