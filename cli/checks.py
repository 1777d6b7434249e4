"""Pre-flight checks several subcommands share (one line and exit 2 before Ray starts), and the
settings a plan takes from the flags."""

from __future__ import annotations

import os

import schema

from . import UsageError


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
