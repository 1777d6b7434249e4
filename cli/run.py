"""sweep.py run: a sweep, every config x seed as a Ray Tune trial, logged to MLflow."""

from __future__ import annotations

import argparse
import sys

import schema

from . import UsageError, fail
from .checks import check_configs, metric_for, plan_kwargs
from .flags import add_cluster_flags, add_training_flags, training_overrides
from .launch import launch

EPILOG = """examples:
  sweep.py run --space seed-cv --seeds 3 --name cv
  sweep.py run --space explore --num-samples 40 --name ex
  sweep.py run --space explore --objectives val_acc:max,ratio:min --num-samples 40 --name front
  sweep.py run --space seed-cv --seeds 3 --name cv --resume      # after Ctrl-C or a killed driver
"""


def register(sub) -> None:
    r = sub.add_parser(
        "run",
        help="a sweep: every config x seed as a Ray Tune trial, logged to MLflow",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--space", required=True, help="a named space (sweep.py spaces) or a .json file")
    r.add_argument("--task", help="default: the space's")
    r.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 of every row (default 3): a grid axis")
    r.add_argument("--name", default="compsweep", help="MLflow experiment")
    r.add_argument("--metric", help="objective for Optuna/ASHA (default val_acc; cola: val_mcc)")
    r.add_argument("--mode", choices=["max", "min"], default="max")
    r.add_argument(
        "--objectives", help="Optuna multi-objective search, e.g. val_acc:max,ratio:min (Optuna spaces only)"
    )
    r.add_argument("--num-samples", type=int, default=20, help="Optuna trials (explore)")
    r.add_argument("--asha", action="store_true", help="stop weak trials early (ASHA on epochs)")
    r.add_argument("--resume", action="store_true", help="continue the interrupted sweep of --name")
    r.add_argument("--again", action="store_true", help="also run trials that already have a FINISHED run")
    r.add_argument(
        "--done-from",
        metavar="CSV",
        help="also skip (config, seed) pairs this runs.csv records as FINISHED in --name on a recorded "
        "host (docs/results/runs.csv keeps the results sweeps across machines)",
    )
    add_training_flags(r)
    add_cluster_flags(r)
    r.set_defaults(func=main, epochs=None)


def parse_objectives(text: str) -> list[tuple[str, str]]:
    import schema

    out = []
    for term in [t.strip() for t in text.split(",") if t.strip()]:
        metric, _, mode = term.partition(":")
        if metric not in schema.REPORTED or mode not in ("max", "min"):
            raise UsageError(
                f"--objectives {term!r}: use metric:max|min with a metric from {', '.join(schema.REPORTED)}"
            )
        out.append((metric, mode))
    if len(out) < 2:
        raise UsageError(f"--objectives {text!r}: give at least two, e.g. val_acc:max,ratio:min")
    return out


def main(args: argparse.Namespace) -> int:
    try:
        space, task = space_and_task(args)
        metric = metric_for(task, args.metric)
        objectives = parse_objectives(args.objectives) if args.objectives else None
        if objectives and space.is_grid:
            raise UsageError(f"--objectives needs an Optuna space (explore), not the grid {space.name!r}")
        if objectives and args.asha:
            raise UsageError("--asha stops trials on one metric and cannot combine with --objectives")
        base = base_config(space, task, args)
        plan = make_plan(args, space, base, metric, objectives)
        if plan is None:
            print(f"every trial already has a FINISHED run in {args.name!r} (--again runs them anyway)")
            return 0
    except UsageError as e:
        return fail(str(e))
    what = "grid" if space.is_grid else ("Optuna, multi-objective" if objectives else "Optuna")
    print(f"sweep {args.name!r}: space {space.name}, task {task}, {plan.planned} trials ({what}), metric {metric}")
    return launch(plan, resume=args.resume, dry_run=args.dry_run)


def space_and_task(args: argparse.Namespace):
    """The space (validated) and the task, with the counts and the name checked."""
    import search_spaces
    import trainables

    try:
        space = search_spaces.get(args.space)
        space.validate()
    except search_spaces.SpaceError as e:
        raise UsageError(str(e)) from None
    task = args.task or space.default_task
    try:
        trainables.task(task)
    except trainables.ConfigError:
        raise UsageError(f"--task {task!r}: must be one of {', '.join(trainables.task_names())}") from None
    if args.seeds < 1:
        raise UsageError(f"--seeds {args.seeds}: must be at least 1")
    if args.num_samples < 1:
        raise UsageError(f"--num-samples {args.num_samples}: must be at least 1")
    if not args.name.strip() or "/" in args.name:
        raise UsageError(f"--name {args.name!r}: must be a non-empty name without '/'")
    return space, task


def base_config(space, task: str, args: argparse.Namespace) -> dict:
    """The space's training for the task with the flags over it (Space.base)."""
    return space.base(task, training_overrides(args))


def make_plan(args: argparse.Namespace, space, base: dict, metric: str, objectives):
    """The Plan: every row x seed (grid; None when all of them have finished) or Optuna's."""
    import trainables
    from tuning.runner import ExploreSampler, Plan, latest_file

    kwargs = plan_kwargs(args)
    kwargs.update(max_epochs=int(base.get("epochs", 1)), asha=args.asha)
    common = dict(name=args.name, space=space.name, metric=metric, mode=args.mode, **kwargs)
    cut = trainables.default_placement(base["task"])
    if space.is_grid:
        trials = space.grid(base, args.seeds)
        check_configs(trials)
        if not args.again and not args.resume:
            trials = without_finished(trials, kwargs["tracking_uri"], args.name, args.done_from)
            if not trials:
                return None
        plan = Plan(trials=trials, **common)
    else:
        if args.seeds != 1:
            print("note: the Optuna space explores with seed 0; `rerun --seeds N` adds seeds", file=sys.stderr)
        check_configs([{**base, "fwd": "none", "placement": cut}])
        sampler = ExploreSampler(space.sampled, {**base, "seed": 0})
        plan = Plan(sampler=sampler, num_samples=args.num_samples, objectives=objectives, **common)
    if args.resume and not latest_file(plan).is_file():
        raise UsageError(f"--resume: no sweep named {args.name!r} under {plan.storage}")
    return plan


def without_finished(trials: list[dict], uri: str, name: str, done_from: str | None = None) -> list[dict]:
    """Drop (config, seed) pairs that already have a FINISHED run: a run is deterministic per seed,
    so a second launch of the same sweep fills in what is missing instead of repeating it. Runs
    kept in a runs.csv (a clean clone has no MLflow store) count as well. A run that recorded no
    host does not count: the results pair a seed's runs only within one machine, so it is run
    again where the sweep runs (and the harvest of the page replaces it)."""
    import schema
    from schema.store import search

    done = {
        (schema.run_config_id(r.data.params, r.data.tags), r.data.tags.get(schema.TAG_SEED))
        for r in search(uri, name)
        if r.data.tags.get(schema.TAG_HOST)  # a run with no recorded host pairs with nothing: run it again
    }
    if done_from:
        done |= finished_in_csv(done_from, name)
    left = [t for t in trials if (schema.config_id(t), str(t["seed"])) not in done]
    if len(left) < len(trials):
        print(f"skipping {len(trials) - len(left)} trials that already have a FINISHED run in {name!r}")
    return left


def finished_in_csv(path: str, name: str) -> set[tuple[str, str]]:
    """(config_id, seed) pairs a runs.csv records as FINISHED, complete runs of experiment `name`."""
    from pathlib import Path

    from reports import runs

    if not Path(path).is_file():
        return set()  # nothing kept yet: the first sitting on a clean clone
    try:
        df, _ = runs.complete(runs.read_csv(Path(path)))
    except (KeyError, ValueError) as e:
        raise UsageError(f"--done-from {path}: not a runs.csv written by sweep.py results ({e})") from e
    df = df[(df["experiment"] == name) & df[schema.TAG_HOST].fillna("").astype(str).ne("")]
    return {(str(c), str(int(s))) for c, s in zip(df[schema.TAG_CONFIG_ID], df["seed"], strict=True)}
