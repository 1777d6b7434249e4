"""sweep.py rerun: bring configs (the top ones, or named by config id) to N distinct seeds,
into the same experiment."""

from __future__ import annotations

import argparse

import schema

from . import UsageError, fail
from .checks import check_configs, experiment_or_fail, metric_for, plan_kwargs
from .flags import add_cluster_flags, add_selection_flags, add_training_flags, training_overrides
from .launch import launch

EPILOG = """examples:
  sweep.py rerun --name ex --top 5 --seeds 3
  sweep.py rerun --name ex --failed                  # the pairs whose latest run FAILED, again
  sweep.py rerun --name results-collapse --config-id 6eb330bbf066,acf0c27f58aa --seeds 8
"""


def register(sub) -> None:
    p = sub.add_parser(
        "rerun",
        help="bring the top configs (or --config-id) to N seeds, into the same experiment",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--name", required=True, help="MLflow experiment (the sweep's --name)")
    add_selection_flags(p, top=3)
    p.add_argument("--config-id", help="comma-separated config ids (report's last column) instead of --top")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 for each config")
    p.add_argument("--failed", action="store_true", help="the (config, seed) pairs whose latest run FAILED, again")
    p.add_argument("--killed", action="store_true", help="the pairs whose latest run was KILLED (cut short), again")
    add_training_flags(p)
    add_cluster_flags(p)
    p.set_defaults(func=main, epochs=None)


def main(args: argparse.Namespace) -> int:
    from tuning.runner import Plan

    ended = [st for st, on in (("FAILED", args.failed), ("KILLED", args.killed)) if on]
    if not ended and (args.seeds is None or args.seeds < 1):
        return fail(f"--seeds {args.seeds}: must be at least 1 (or give --failed / --killed)")
    try:
        uri = experiment_or_fail(args)
        if ended:
            trials, what = ended_again(args, uri, ended)
        else:
            trials, what = more_seeds(args, uri)
        if not trials:
            print(what)
            return 0
        check_configs(trials)
        kwargs = plan_kwargs(args)
        kwargs["max_epochs"] = max(int(t.get("epochs", 1)) for t in trials)
        kwargs["asha"] = False
        metric = metric_for(trials[0]["task"], args.metric)
        plan = Plan(name=args.name, space="rerun", metric=metric, mode=args.mode, trials=trials, **kwargs)
    except UsageError as e:
        return fail(str(e))
    from tuning.progress import label

    print(f"rerun: {len(trials)} trials {what}:", flush=True)
    for t in trials:  # what it started, before the first trial's minutes of silence
        print(f"  {schema.config_id(t)} {label(t)}", flush=True)
    return launch(plan, dry_run=args.dry_run)


def more_seeds(args: argparse.Namespace, uri: str) -> tuple[list[dict], str]:
    """The top configs (or --config-id) brought to seeds 0..N-1: the trials missing."""
    from reports import runs
    from search_spaces import canonical_row

    from .best import select

    done, _ = runs.complete(runs.from_mlflow(uri, args.name), args.include_stopped)
    if args.config_id:
        ids = [c.strip() for c in args.config_id.split(",") if c.strip()]
        unknown = [c for c in ids if c not in set(done[schema.TAG_CONFIG_ID])]
        if not ids or unknown:
            raise UsageError(
                f"--config-id {args.config_id!r}: no finished runs for {', '.join(unknown) or 'an empty list'} "
                f"in {args.name!r} (see the last column of `sweep.py report --name {args.name}`)"
            )
    else:
        _, top = select(args, uri)
        ids = list(top[schema.TAG_CONFIG_ID])
    trials = []
    for cid in ids:
        mine = done[done[schema.TAG_CONFIG_ID] == cid]
        have = set(int(s) for s in mine["seed"])  # distinct seeds, as report counts them
        cfg = canonical_row(schema.config_from_params({schema.CONFIG_PARAM: mine.iloc[0][schema.CONFIG_PARAM]}))
        cfg.update(training_overrides(args))
        trials += [{**cfg, "seed": s} for s in range(args.seeds) if s not in have]
    if not trials:
        return [], f"the {len(ids)} configs already have seeds 0..{args.seeds - 1}"
    return trials, f"bring {len(ids)} configs to {args.seeds} seeds"


def ended_again(args: argparse.Namespace, uri: str, statuses: list[str]) -> tuple[list[dict], str]:
    """Every (config, seed) whose latest run ended in one of ``statuses``, once each, as it was
    configured (training flags given here override)."""
    from reports import runs
    from search_spaces import canonical_row

    df = runs.from_mlflow(uri, args.name, status=None).sort_values("start_time", kind="stable")
    latest = df.drop_duplicates([schema.TAG_CONFIG_ID, "seed"], keep="last")
    again = latest[latest["status"].isin(statuses)]
    trials = []
    for _, r in again.iterrows():
        cfg = canonical_row(schema.config_from_params({schema.CONFIG_PARAM: r[schema.CONFIG_PARAM]}))
        trials.append({**cfg, **training_overrides(args), "seed": int(r["seed"])})
    which = " or ".join(statuses)
    if not trials:
        return [], f"no (config, seed) in {args.name!r} whose latest run is {which}"
    return trials, f"again: the (config, seed) pairs whose latest run is {which}"
