"""Running a plan: its dry run, the sweep, and what it writes to MLflow beside its trials (the
parents' seed statistics and the summary run, computed by reports and written by tuning)."""

from __future__ import annotations

import sys

import schema


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
