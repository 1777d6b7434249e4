"""The command line (floor 3): ``sweep.py`` builds the top parser and dispatches; each
subcommand is one module here that owns its parser, its help and its run function.
This file holds what several subcommands share: the flag groups and the pre-flight checks."""

from __future__ import annotations

import argparse
import os
import sys

import schema
from trainables import names

SUBCOMMANDS = ("run", "report", "best", "rerun", "single", "spaces", "bench", "results", "link_check")


class UsageError(Exception):
    """Bad input: one line on stderr, exit status 2, nothing written."""


def fail(msg: str) -> int:
    print(f"sweep.py: error: {msg}", file=sys.stderr)
    return 2


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


# ---------------------------------------------------------------- shared checks
def training_overrides(args: argparse.Namespace) -> dict:
    out = {k: getattr(args, k, None) for k in TRAINING_FLAGS}
    for k in ("root", "model_dir", "weights"):  # trials run in their own folders: absolute paths
        if out.get(k) and out[k] not in ("none", "imagenet"):
            out[k] = os.path.abspath(out[k])
    return {k: v for k, v in out.items() if v is not None}


def metric_for(task: str, metric: str | None) -> str:
    """The metric a sweep ranks by: given, or the task's own; a score only some tasks measure
    (val_mcc: CoLA, val_f1: MRPC) is refused on the others."""
    import trainables
    from trainables import tasks

    entry = trainables.task(task)
    m = metric or entry.metric
    if m not in schema.REPORTED:
        raise UsageError(f"--metric {m!r}: must be one of {', '.join(schema.REPORTED)}")
    score = next((k for k, clean in schema.CLEAN.items() if m in (k, clean)), m)
    owners = [t.name for t in tasks.all_tasks().values() if score in t.scores]
    if owners and entry.name not in owners:
        raise UsageError(f"--metric {m} is only measured on {', '.join(owners)}, not {task}")
    return m


def check_configs(configs: list[dict]) -> None:
    """Every distinct setting through the trainables' own checks, before Ray starts."""
    import trainables
    from trainables.check import check

    seen = set()
    for cfg in configs:
        key = (cfg.get("task"), cfg.get("placement"), cfg.get("fwd"), cfg.get("bwd"))
        if key in seen:
            continue
        seen.add(key)
        try:
            check(cfg)
        except trainables.ConfigError as e:
            raise UsageError(str(e)) from None


def tracking_uri(args) -> str:
    return args.tracking_uri or schema.default_tracking_uri()


def experiment_or_fail(args) -> str:
    """The store of a reading command (it must exist: nothing is created) holding --name."""
    from schema.store import StoreMissing, existing, experiment_id

    try:
        uri = existing(tracking_uri(args))
    except StoreMissing as e:
        raise UsageError(str(e)) from None
    if experiment_id(uri, args.name, create=False) is None:
        raise UsageError(f"--name {args.name!r}: no such MLflow experiment in {uri}")
    return uri


def check_metric(metric: str) -> None:
    if metric not in schema.REPORTED:
        raise UsageError(f"--metric {metric!r}: must be one of {', '.join(schema.REPORTED)}")


def links(text: str | None):
    from reports.link import LinkError, parse_links

    if not text:
        return []
    try:
        return parse_links(text)
    except LinkError as e:
        raise UsageError(str(e)) from None


def check_device(args) -> None:
    """--device against what is visible, before Ray starts (a cluster's driver may have no GPU:
    with --address, the workers' GPUs are Ray's to count)."""
    device = getattr(args, "device", None)
    if device == "cpu" and args.gpus_per_trial > 0:
        raise UsageError(f"--gpus-per-trial {args.gpus_per_trial:g} with --device cpu: the GPU would sit idle")
    if device == "cuda" and not args.address:
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no GPU is visible here (torch.cuda.is_available() is False)")
        if args.gpus_per_trial <= 0:
            raise UsageError("--device cuda needs --gpus-per-trial > 0 (Ray gives each trial its GPU, e.g. 0.25)")
    no_gpu = device == "cpu" or args.gpus_per_trial <= 0
    if getattr(args, "precision", None) == "fp16" and not args.address and no_gpu:
        raise UsageError("--precision fp16 runs on a GPU (with --gpus-per-trial > 0); use bf16 on CPU")


def plan_kwargs(args) -> dict:
    if args.retries is not None and args.retries < 0:
        raise UsageError(f"--retries {args.retries}: must be 0 or more")
    if args.cpus_per_trial <= 0:
        raise UsageError(f"--cpus-per-trial {args.cpus_per_trial}: must be more than 0")
    if args.gpus_per_trial < 0:
        raise UsageError(f"--gpus-per-trial {args.gpus_per_trial}: must be 0 or more")
    check_device(args)
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError(f"--max-concurrent {args.max_concurrent}: must be at least 1")
    retries = args.retries if args.retries is not None else (2 if args.address else 0)
    return dict(
        tracking_uri=tracking_uri(args),
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        retries=retries,
        keep_checkpoints=args.keep_checkpoints,
        verbose=min(int(args.verbose or 0), 3),
        storage=os.path.abspath(args.storage) if args.storage else str(schema.REPO / "ray_results"),
    )


def show(plan) -> int:
    """--dry-run: the trials a plan would run (grid), or how many Optuna would sample."""
    if plan.trials is None:
        print(f"dry run: Optuna would sample {plan.num_samples} trials of space {plan.space}")
        return 0
    for t in plan.trials:
        bwd = f" bwd={t['bwd']}" if t.get("bwd") else ""
        print(f"  {schema.config_id(t)} seed={t['seed']} {t['task']} {t.get('placement')} fwd={t['fwd']}{bwd}")
    print(f"dry run: {len(plan.trials)} trials into {plan.name!r}; nothing was run")
    return 0


def write_parents(plan) -> int:
    """The reports compute each config's seed statistics; tuning writes them to its parent run."""
    from reports import parents, table
    from schema.store import parents as parent_ids
    from tuning.summary import write_parents as write

    if not parent_ids(plan.tracking_uri, plan.name):
        return 0
    rep = table.report(plan.tracking_uri, plan.name, plan.metric)
    return write(plan.tracking_uri, plan.name, parents.by_config(rep.summary, plan.metric))


def write_summary_run(plan) -> None:
    """The experiment's summary (table, plots) computed by reports, written by tuning."""
    import tempfile
    from pathlib import Path

    from reports import table
    from tuning.summary import save_summary_run

    rep = table.report(plan.tracking_uri, plan.name, plan.metric)
    if rep.summary.empty:
        return
    with tempfile.TemporaryDirectory() as d:
        save_summary_run(plan.tracking_uri, plan.name, table.summary_files(rep, plan.metric, Path(d), plan.name))


def launch(plan, resume: bool = False, dry_run: bool = False) -> int:
    """Run the plan; the exit status is the number of failed trials (130 when interrupted)."""
    import time

    if dry_run:
        return show(plan)
    from tuning.runner import launch as run_plan

    print(
        f"{plan.planned} trials; a line per finished trial follows. The first trial of each worker compiles "
        "the compressors' kernels (1-2 min on 2 CPU cores) and is quiet meanwhile.",
        flush=True,
    )
    plan.after_trial = lambda: write_parents(plan)  # the parent runs' seed statistics, after every trial
    t0 = time.time()
    out = run_plan(plan, resume=resume)
    took = time.time() - t0
    print(
        f"sweep {out['sweep_id']}: {out['finished']} finished, {out['failed']} failed of "
        f"{out['planned']} planned trials in {took / 60:.1f} min (MLflow experiment {plan.name!r})"
    )
    if out.get("freed_mb"):
        print(f"deleted the trials' checkpoints ({out['freed_mb']:.0f} MB; --keep-checkpoints keeps them)")
    write_summary_run(plan)
    if out["finished"] + out["failed"] < out["planned"]:
        print(
            f"interrupted: {out['planned'] - out['finished'] - out['failed']} trials left; resume with "
            f"`python sweep.py run --space {plan.space} --name {plan.name} --resume` (same flags)",
            file=sys.stderr,
        )
        return 130
    return min(out["failed"], 125)
