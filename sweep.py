#!/usr/bin/env python
"""compsweep: what compressing activations and gradients at a split model's cut points costs.

Subcommands: run | report | best | rerun | single | spaces | bench. See README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = str(Path(__file__).resolve().parent)


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks import compressors

    if args.quick:
        compressors.run(shapes=[(4, 24, 28, 28)], specs=compressors.SPECS[:6], repeats=1)
    else:
        compressors.run(repeats=args.repeats)
    if args.memory:
        from benchmarks import memory

        memory.run(shape=(4, 24, 28, 28) if args.quick else (256, 1280, 7, 7))
    return 0


class UsageError(Exception):
    """Bad input: one line on stderr, exit status 2, nothing written."""


def fail(msg: str) -> int:
    print(f"sweep.py: error: {msg}", file=sys.stderr)
    return 2


def _flag_bool(v: str | None) -> bool:
    return str(v).lower() not in ("0", "false", "no", "off", "none", "")


def cmd_single(args: argparse.Namespace) -> int:
    import json
    import os
    import tempfile

    from rich.console import Console
    from rich.table import Table

    import compression
    import trainables

    if args.task not in trainables.TASKS:
        return fail(f"--task {args.task!r}: must be one of {', '.join(trainables.TASKS)}")
    seed_style = any(v is not None for v in (args.quant, args.prune, args.split)) or (
        args.kmeans is not None or args.multi is not None
    )
    try:
        if seed_style:
            if args.fwd is not None:
                return fail("give either --fwd SPEC or the seed flags (--quant/--prune/...), not both")
            fwd = trainables.seed_flags_to_spec(
                args.quant, args.prune, _flag_bool(args.kmeans), _flag_bool(args.multi), args.split
            )
        else:
            fwd = args.fwd or "none"
        fwd = str(compression.parse_spec(fwd))
        bwd = None if args.bwd is None else str(compression.parse_spec(args.bwd))
    except ValueError as e:
        return fail(str(e))
    out = args.out or args.log_dir
    config = dict(
        task=args.task,
        root=args.root,
        model_dir=args.model_dir,
        weights=args.weights,
        model=args.model,
        placement=args.placement,
        fwd=fwd,
        bwd=bwd,
        epochs=args.epochs or 1,
        seed=args.seed,
        limit_train=args.limit_train,
        limit_val=args.limit_val,
        image_size=args.image_size,
        max_length=args.max_length,
        batch_size=args.batch_size,
        lr=args.lr,
        progress=True,
    )
    config = {k: v for k, v in config.items() if v is not None}
    history: list[dict] = []
    try:
        last = trainables.train(config, history.append)
    except trainables.ConfigError as e:
        return fail(str(e))
    console = Console()
    table = Table(title=f"{args.task} {args.placement} fwd={fwd} bwd={bwd or 'default'} seed={args.seed}")
    table.add_column("metric")
    for m in history:
        table.add_column(f"epoch {m['epoch']}", justify="right")
    for k in (k for k in last if k != "epoch"):
        table.add_row(k, *(f"{m[k]:.4g}" for m in history))
    console.print(table)
    if out:
        d = os.path.dirname(os.path.abspath(out))
        os.makedirs(d, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=d, delete=False, suffix=".tmp") as f:
            json.dump({"config": config, "history": history, "metrics": last}, f, indent=2)
        os.replace(f.name, out)
        console.print(f"metrics written to {out}")
    return 0


TRAINING_FLAGS = (
    "root",
    "model_dir",
    "weights",
    "model",
    "epochs",
    "limit_train",
    "limit_val",
    "image_size",
    "max_length",
    "batch_size",
    "lr",
)


def _training_overrides(args: argparse.Namespace) -> dict:
    out = {k: getattr(args, k, None) for k in TRAINING_FLAGS}
    for k in ("root", "model_dir", "weights"):  # trials run in their own folders: absolute paths
        if out.get(k) and out[k] not in ("none", "imagenet"):
            out[k] = os.path.abspath(out[k])
    return {k: v for k, v in out.items() if v is not None}


def _metric_for(task: str, metric: str | None) -> str:
    from reports.table import METRICS

    m = metric or ("val_mcc" if task == "cola" else "val_acc")
    if m not in METRICS:
        raise UsageError(f"--metric {m!r}: must be one of {', '.join(METRICS)}")
    if m == "val_mcc" and task != "cola":
        raise UsageError(f"--metric val_mcc is only measured on cola, not {task}")
    return m


def _check_configs(configs: list[dict]) -> None:
    import trainables
    from trainables.check import check

    seen = set()
    for cfg in configs:
        key = (cfg.get("placement"), cfg.get("fwd"), cfg.get("bwd"))
        if key in seen:
            continue
        seen.add(key)
        try:
            check(cfg)
        except trainables.ConfigError as e:
            raise UsageError(str(e)) from None


def _tracking_uri(args) -> str:
    from schema.store import default_tracking_uri

    return args.tracking_uri or default_tracking_uri()


def _launch(plan, args, resume: bool = False) -> int:
    from tuning.runner import launch

    t0 = time.time()
    out = launch(plan, resume=resume)
    took = time.time() - t0
    print(
        f"sweep {out['sweep']}: {out['finished']} finished, {out['failed']} failed of "
        f"{out['planned']} planned trials in {took / 60:.1f} min (MLflow experiment {plan.name!r})"
    )
    if out["finished"] + out["failed"] < out["planned"]:
        print(
            f"interrupted: {out['planned'] - out['finished'] - out['failed']} trials left; resume with "
            f"`python sweep.py run --space {plan.space} --name {plan.name} --resume` (same flags)",
            file=sys.stderr,
        )
        return 130
    return min(out["failed"], 125)


def _common_plan_kwargs(args) -> dict:
    return dict(
        tracking_uri=_tracking_uri(args),
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        asha=args.asha,
        storage=os.path.abspath(args.storage) if args.storage else os.path.join(REPO, "ray_results"),
    )


def cmd_run(args: argparse.Namespace) -> int:
    import search_spaces
    import trainables
    from tuning.runner import ExploreSampler, Plan

    try:
        space = search_spaces.get(args.space)
        space.validate()
    except search_spaces.SpaceError as e:
        return fail(str(e))
    task = args.task or space.default_task
    if task not in trainables.TASKS:
        return fail(f"--task {task!r}: must be one of {', '.join(trainables.TASKS)}")
    if args.seeds < 1:
        return fail(f"--seeds {args.seeds}: must be at least 1")
    try:
        metric = _metric_for(task, args.metric)
        base = {**space.training_for(task), **_training_overrides(args), "task": task}
        if task in trainables.NLP_TASKS:  # CV-only defaults of a space do not apply
            base = {k: v for k, v in base.items() if k not in ("model", "weights", "image_size")}
        else:
            base = {k: v for k, v in base.items() if k not in ("max_length", "model_dir")}
        kwargs = _common_plan_kwargs(args)
        kwargs["max_epochs"] = int(base.get("epochs", 1))
        if space.is_grid:
            cut = trainables.default_placement(task)
            trials = [{**base, "placement": cut, **row, "seed": s} for row in space.rows for s in range(args.seeds)]
            _check_configs(trials)
            if not args.again and not args.resume:
                trials = _without_finished(trials, kwargs["tracking_uri"], args.name)
                if not trials:
                    print(f"every trial already has a FINISHED run in {args.name!r} (--again runs them anyway)")
                    return 0
            plan = Plan(name=args.name, space=space.name, metric=metric, mode=args.mode, trials=trials, **kwargs)
        else:
            if args.seeds != 1:
                print(
                    "note: the Optuna space explores with seed 0; `rerun --seeds N` adds seeds",
                    file=sys.stderr,
                )
            _check_configs([{**base, "fwd": "none", "placement": trainables.default_placement(task)}])
            plan = Plan(
                name=args.name,
                space=space.name,
                metric=metric,
                mode=args.mode,
                sampler=ExploreSampler(space.sample, {**base, "seed": 0}),
                num_samples=args.num_samples,
                **kwargs,
            )
        if args.resume:
            from tuning.runner import _latest_file

            if not _latest_file(plan).is_file():
                return fail(f"--resume: no sweep named {args.name!r} under {plan.storage}")
    except UsageError as e:
        return fail(str(e))
    print(
        f"sweep {args.name!r}: space {space.name}, task {task}, "
        f"{plan.planned} trials ({'grid' if space.is_grid else 'Optuna'}), metric {metric}"
    )
    return _launch(plan, args, resume=args.resume)


def _without_finished(trials: list[dict], uri: str, name: str) -> list[dict]:
    """Drop (config, seed) pairs that already have a FINISHED run: a run is deterministic per seed,
    so a second launch of the same sweep fills in what is missing instead of repeating it."""
    from schema import config_id
    from schema.store import search

    done = {(r.data.tags["config_id"], r.data.tags.get("seed")) for r in search(uri, name, "FINISHED")}
    left = [t for t in trials if (config_id(t), str(t["seed"])) not in done]
    if len(left) < len(trials):
        print(f"skipping {len(trials) - len(left)} trials that already have a FINISHED run in {name!r}")
    return left


def _experiment_or_fail(args) -> str:
    from schema.store import experiment_id

    uri = _tracking_uri(args)
    if experiment_id(uri, args.name, create=False) is None:
        raise UsageError(f"--name {args.name!r}: no such MLflow experiment in {uri}")
    return uri


def cmd_report(args: argparse.Namespace) -> int:
    from reports import table

    try:
        uri = _experiment_or_fail(args)
        if args.metric not in table.METRICS:
            raise UsageError(f"--metric {args.metric!r}: must be one of {', '.join(table.METRICS)}")
    except UsageError as e:
        return fail(str(e))
    summary, failed = table.report(uri, args.name, args.metric)
    text = table.render(summary, args.metric, args.format, failed)
    print(text, end="")
    files = {
        f"summary_{args.metric}.md": table.render(summary, args.metric, "md", failed),
        f"summary_{args.metric}.csv": table.render(summary, args.metric, "csv"),
        f"summary_{args.metric}.json": table.render(summary, args.metric, "json"),
    }
    if args.plot and not summary.empty:
        table.plot(summary, args.metric, args.plot, title=args.name)
        files[Path(args.plot).name] = Path(args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    if not summary.empty:
        table.save_summary_run(uri, args.name, files)
    return 0


def _best(args, uri: str):
    from reports import table

    if args.metric not in table.METRICS:
        raise UsageError(f"--metric {args.metric!r}: must be one of {', '.join(table.METRICS)}")
    summary, _ = table.report(uri, args.name, args.metric)
    summary = summary.dropna(subset=[f"{args.metric}_mean"])
    return summary.sort_values(f"{args.metric}_mean", ascending=args.mode == "min").head(args.top)


def cmd_best(args: argparse.Namespace) -> int:
    from reports import table

    try:
        best = _best(args, _experiment_or_fail(args))
    except UsageError as e:
        return fail(str(e))
    print(table.render(best, args.metric, args.format), end="")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from schema import config_from_params
    from schema.store import search
    from tuning.runner import Plan

    if args.seeds < 1:
        return fail(f"--seeds {args.seeds}: must be at least 1")
    try:
        uri = _experiment_or_fail(args)
        best = _best(args, uri)
    except UsageError as e:
        return fail(str(e))
    runs = search(uri, args.name, "FINISHED")
    trials = []
    for cid in best["config_id"]:
        mine = [r for r in runs if r.data.tags["config_id"] == cid]
        have = {int(r.data.tags["seed"]) for r in mine}
        cfg = config_from_params(mine[0].data.params)
        cfg.update(_training_overrides(args))
        trials += [{**cfg, "seed": s} for s in range(args.seeds) if s not in have]
    if not trials:
        print(f"the top {len(best)} configs already have seeds 0..{args.seeds - 1}")
        return 0
    try:
        _check_configs(trials)
    except UsageError as e:
        return fail(str(e))
    task = trials[0]["task"]
    kwargs = _common_plan_kwargs(args)
    kwargs["max_epochs"] = max(int(t.get("epochs", 1)) for t in trials)
    kwargs["asha"] = False
    plan = Plan(
        name=args.name,
        space="rerun",
        metric=_metric_for(task, args.metric),
        mode=args.mode,
        trials=trials,
        **kwargs,
    )
    print(f"rerun: {len(trials)} trials bring the top {len(best)} configs to {args.seeds} seeds")
    return _launch(plan, args)


def cmd_spaces(args: argparse.Namespace) -> int:
    import search_spaces

    for name in search_spaces.names():
        sp = search_spaces.get(name)
        size = f"{len(sp.rows)} rows" if sp.is_grid else "Optuna"
        print(f"{name:10s} [{size}, default task {sp.default_task}] {sp.description}")
        if args.verbose and sp.is_grid:
            for row in sp.rows:
                bwd = f"  bwd={row['bwd']}" if row.get("bwd") else ""
                print(f"    {row.get('placement', '(task default)'):16s} {row['fwd']}{bwd}")
    return 0


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite store in mlruns/)")
    p.add_argument("--storage", help="Ray Tune results/checkpoints folder (default ray_results/)")
    p.add_argument("--address", help="join a running Ray cluster (e.g. auto or ray://host:10001)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0)
    p.add_argument("--max-concurrent", type=int, help="default: as many trials as the resources fit")


def add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="data folder (cifar-10-batches-py/ parent, or GLUE folder)")
    p.add_argument("--model-dir", help="local Hugging Face model folder (NLP); default MiniLM-L6")
    p.add_argument(
        "--weights",
        help="ImageNet .pth for the CV model (efficientnet_lite0: the packaged weights by default, 'none' for scratch)",
    )
    p.add_argument("--model", choices=["mobilenet_v2", "efficientnet_lite0"], help="CV model")
    p.add_argument("--epochs", type=int)
    p.add_argument("--limit-train", type=int, help="fixed subset of N training examples")
    p.add_argument("--limit-val", type=int, help="fixed subset of N validation examples")
    p.add_argument("--image-size", type=int, help="CV: 32 (native) or 224 (upscaled, as the study)")
    p.add_argument("--max-length", type=int, help="NLP: max tokens (default 128)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep.py", description=__doc__.strip().splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="{run,report,best,rerun,single,spaces,bench}")

    b = sub.add_parser("bench", help="compressor speed (x clone), SNR and bits on the seed's shapes")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--quick", action="store_true", help="one small shape (a smoke test)")
    b.add_argument("--memory", action="store_true", help="also peak extra memory per method (a process each)")
    b.set_defaults(func=cmd_bench)

    s = sub.add_parser("single", help="one fine-tune with boundaries, no Ray (prints a metrics table)")
    s.add_argument("--task", required=True, help="cifar10 | fashion_mnist | cola | rte | rotten_tomatoes")
    s.add_argument(
        "--placement",
        default="first:1,last:1",
        help="first:K,last:M | first:K | last:M | after:<module.path>[,...]",
    )
    s.add_argument("--fwd", help="forward spec, e.g. sortquant:b=6,s=2 (default none)")
    s.add_argument("--bwd", help="backward spec (default: as --fwd; topk: the forward mask)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="write config, per-epoch history and final metrics as JSON")
    add_training_flags(s)
    g = s.add_argument_group("the published prototype's flags (mapped onto --fwd)")
    g.add_argument("--quant", type=int, help="bits: uniform:b=B (with --kmeans/--multi: total bits)")
    g.add_argument("--prune", type=float, help="kept fraction R: topk:r=R")
    g.add_argument("--kmeans", nargs="?", const="1", help="with --quant B: kmeans:b=B,iters=20")
    g.add_argument(
        "--multi",
        "--sortquant",
        dest="multi",
        nargs="?",
        const="1",
        help="with --quant B --split S: sortquant:b=B-S,s=S",
    )
    g.add_argument("--split", type=int, help="split bits S for --multi (default 2)")
    g.add_argument("--log-dir", help="as --out")
    s.set_defaults(func=cmd_single)

    r = sub.add_parser("run", help="a sweep: every config x seed as a Ray Tune trial, logged to MLflow")
    r.add_argument("--space", required=True, help="seed-cv | seed-nlp | explore | demo | a .json file")
    r.add_argument("--task", help="default: the space's")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--name", default="compsweep", help="MLflow experiment")
    r.add_argument("--metric", help="objective for Optuna/ASHA (default val_acc; cola: val_mcc)")
    r.add_argument("--mode", choices=["max", "min"], default="max")
    r.add_argument("--num-samples", type=int, default=20, help="Optuna trials (explore)")
    r.add_argument("--asha", action="store_true", help="stop weak trials early (ASHA on epochs)")
    r.add_argument("--resume", action="store_true", help="continue the interrupted sweep of --name")
    r.add_argument("--again", action="store_true", help="also run trials that already have a FINISHED run")
    add_training_flags(r)
    add_cluster_flags(r)
    r.set_defaults(func=cmd_run, epochs=None)

    rp = sub.add_parser("report", help="mean ± std over seeds per config, from MLflow")
    rp.add_argument("--name", required=True)
    rp.add_argument("--metric", default="val_acc")
    rp.add_argument("--format", choices=["md", "csv", "json"], default="md")
    rp.add_argument("--plot", help="PNG: metric vs bits per method, and vs bytes per sample")
    rp.add_argument("--out", help="also write the table to this file")
    rp.add_argument("--tracking-uri")
    rp.set_defaults(func=cmd_report)

    bp = sub.add_parser("best", help="top configs by seed mean")
    bp.add_argument("--name", required=True)
    bp.add_argument("--metric", default="val_acc")
    bp.add_argument("--top", type=int, default=5)
    bp.add_argument("--mode", choices=["max", "min"], default="max")
    bp.add_argument("--format", choices=["md", "csv", "json"], default="md")
    bp.add_argument("--tracking-uri")
    bp.set_defaults(func=cmd_best)

    rr = sub.add_parser("rerun", help="bring the top configs to N seeds, into the same experiment")
    rr.add_argument("--name", required=True)
    rr.add_argument("--metric", default="val_acc")
    rr.add_argument("--top", type=int, default=3)
    rr.add_argument("--mode", choices=["max", "min"], default="max")
    rr.add_argument("--seeds", type=int, required=True)
    add_training_flags(rr)
    add_cluster_flags(rr)
    rr.set_defaults(func=cmd_rerun, epochs=None, asha=False)

    sp = sub.add_parser("spaces", help="list the named search spaces")
    sp.add_argument("-v", "--verbose", action="store_true", help="list every row")
    sp.set_defaults(func=cmd_spaces)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        return fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
