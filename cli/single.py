"""sweep.py single: one fine-tune with boundaries, no Ray; prints a per-epoch metrics table."""

from __future__ import annotations

import argparse

from . import UsageError, fail
from .flags import add_training_flags

EPILOG = """examples:
  sweep.py single --task fashion_mnist --model efficientnet_lite0 --fwd sortquant:b=6,s=2 --epochs 2
  sweep.py single --task rotten_tomatoes --fwd delta:b=3 --bwd uniform:b=6 --epochs 2
  sweep.py single --task fashion_mnist --quant 8 --multi --split 2     # the study's flags
"""


def _task_names() -> tuple[str, ...]:
    from trainables.tasks import MODULES

    return MODULES


def _flag_bool(v: str | None) -> bool:
    return str(v).lower() not in ("0", "false", "no", "off", "none", "")


def register(sub) -> None:
    s = sub.add_parser(
        "single",
        help="one fine-tune with boundaries, no Ray (prints a metrics table)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--task", required=True, help=" | ".join(_task_names()))
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
    import trainables

    if args.task not in trainables.task_names():
        return fail(f"--task {args.task!r}: must be one of {', '.join(trainables.task_names())}")
    try:
        config = single_config(args)
        history: list[dict] = []
        last = trainables.train(config, history.append)
    except trainables.ConfigError as e:
        return fail(str(e))
    except UsageError as e:
        return fail(str(e))
    print_table(config, history)
    out = args.out or args.log_dir
    if out:
        write_json(out, {"config": config, "history": history, "metrics": last})
        print(f"metrics written to {out}")
    return 0


def single_config(args: argparse.Namespace) -> dict:
    """The run's config from the flags (specs canonical; the seed flags mapped onto --fwd)."""
    import compression
    import trainables
    from trainables.check import check_placement
    from trainables.tasks import CV_RECIPE

    fwd, bwd = specs_from_flags(args)
    config = dict(
        task=args.task,
        root=args.root,
        model_dir=args.model_dir,
        weights=args.weights,
        model=args.model,
        recipe=args.recipe or (CV_RECIPE if trainables.task(args.task).family == "cv" else None),
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
        eval_every=args.eval_every,
        device=args.device,
        precision=args.precision,
        deterministic=args.deterministic,
        progress=True,
    )
    config["placement"] = check_placement(config)  # an empty --placement is refused
    try:
        compression.Boundary(fwd, bwd)
    except ValueError as e:
        raise trainables.ConfigError(str(e)) from None
    return {k: v for k, v in config.items() if v is not None}


def specs_from_flags(args: argparse.Namespace) -> tuple[str, str | None]:
    import compression
    import trainables

    seed_style = any(v is not None for v in (args.quant, args.prune, args.split)) or (
        args.kmeans is not None or args.multi is not None
    )
    if seed_style:
        if args.fwd is not None:
            raise UsageError("give either --fwd SPEC or the seed flags (--quant/--prune/...), not both")
        fwd = trainables.seed_flags_to_spec(
            args.quant, args.prune, _flag_bool(args.kmeans), _flag_bool(args.multi), args.split
        )
    else:
        fwd = "none" if args.fwd is None else args.fwd
    if not fwd.strip():
        raise UsageError("--fwd '': give a spec such as uniform:b=8 (or none)")
    if args.bwd is not None and not args.bwd.strip():
        raise UsageError("--bwd '': give a spec such as uniform:b=8, or leave it out")
    try:
        return compression.canonical(fwd), None if args.bwd is None else compression.canonical(args.bwd)
    except compression.SpecError as e:
        raise UsageError(str(e)) from None


def print_table(config: dict, history: list[dict]) -> None:
    """One column per epoch; a metric an epoch did not log (the clean evaluation is the last
    epoch's only) is left blank."""
    from rich.console import Console
    from rich.table import Table

    import schema

    c = config
    title = f"{c['task']} {c['placement']} fwd={c['fwd']} bwd={c.get('bwd') or 'default'} seed={c['seed']}"
    table = Table(title=title)
    table.add_column("metric")
    for m in history:
        table.add_column(f"epoch {m[schema.EPOCH]}", justify="right")
    keys = [k for k in dict.fromkeys(k for m in history for k in m) if k != schema.EPOCH]
    keys = [k for k in keys if k not in schema.FACTS] + [k for k in keys if k in schema.FACTS]
    for k in keys:
        table.add_row(k, *(_cell(m.get(k)) for m in history))
    Console().print(table)


def _cell(v) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def write_json(path: str, data: dict) -> None:
    """Atomically (a temporary file, then a rename), with the user's umask."""
    import json
    import os
    import tempfile

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=d, delete=False, suffix=".tmp") as f:
        json.dump(data, f, indent=2)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(f.name, 0o666 & ~umask)
    os.replace(f.name, path)
