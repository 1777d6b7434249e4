"""sweep.py single: one fine-tune with boundaries, no Ray; prints a per-epoch metrics table."""

from __future__ import annotations

import argparse

from . import add_training_flags, fail

EPILOG = """examples:
  sweep.py single --task fashion_mnist --model efficientnet_lite0 --fwd sortquant:b=6,s=2 --epochs 2
  sweep.py single --task rotten_tomatoes --fwd delta:b=3 --bwd uniform:b=6 --epochs 2
  sweep.py single --task fashion_mnist --quant 8 --multi --split 2     # the study's flags
"""


def _flag_bool(v: str | None) -> bool:
    return str(v).lower() not in ("0", "false", "no", "off", "none", "")


def register(sub) -> None:
    s = sub.add_parser(
        "single",
        help="one fine-tune with boundaries, no Ray (prints a metrics table)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--task", required=True, help="cifar10 | fashion_mnist | cola | rte | rotten_tomatoes")
    s.add_argument(
        "--placement",
        help="first:K,last:M | first:K | last:M | after:<module.path>[,...] (default: the task's)",
    )
    s.add_argument("--fwd", help="forward spec, e.g. sortquant:b=6,s=2 (default none)")
    s.add_argument("--bwd", help="backward spec (default: as --fwd; topk: the forward mask; delta: uniform:b=8)")
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
    s.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
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
            fwd = "none" if args.fwd is None else args.fwd
        if not fwd.strip():
            return fail("--fwd '': give a spec such as uniform:b=8 (or none)")
        fwd = str(compression.parse_spec(fwd))
        if args.bwd is not None and not args.bwd.strip():
            return fail("--bwd '': give a spec such as uniform:b=8, or leave it out")
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
        placement=args.placement or trainables.default_placement(args.task),
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
