"""sweep.py report: per config mean ± std over seeds, the paired difference to the baseline
with its 95% CI, costs, the link model and the Pareto front, from MLflow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import schema
from reports.link import FORMULA

from . import UsageError, fail
from .checks import check_metric, experiment_or_fail, links
from .flags import add_pairing, add_store_flags, add_target_gap

EPILOG = f"""the link model (--link), per config (steps_to_target: the first evaluated step at the
baseline's final metric minus --target-gap; tta_speedup with its 95% CI over seeds):
{FORMULA}
examples:
  sweep.py report --name cv --link 100mbit,1gbit --plot cv.png
  sweep.py report --name cv --format json --vs uniform:b=16
"""


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="mean ± std over seeds per config, paired Δ vs the baseline, link model, front",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_flags(p)
    p.add_argument("--metric", default=schema.VAL_ACC)
    p.add_argument("--vs", default="none", help="the baseline's forward spec for the paired Δ (default none)")
    p.add_argument("--link", help="estimated batch time and speed-up at links, e.g. 100mbit,1gbit,100mbit+20ms")
    p.add_argument("--microbatches", type=int, default=None,
                   help="micro-batches per batch for est_batch_s_1f1b (default 4)")  # fmt: skip
    p.add_argument("--measured", help="records of link-check --record: time to target at the measured step too")
    p.add_argument("--include-stopped", action="store_true", help="count runs a scheduler stopped early")
    add_target_gap(p)
    add_pairing(p)
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.add_argument("--plot", help="PNG: metric vs bits per method, and vs bytes per sample with the front")
    p.add_argument("--plot-parallel", help="PNG: parallel coordinates, one line per config (params -> metric mean)")
    p.add_argument("--plot-importance", help="PNG: parameter importance over the finished runs (Optuna fANOVA)")
    p.add_argument("--plot-tta", help="PNG: the validation metric against estimated wall time at the (first) --link")
    p.add_argument("--out", help="also write the table to this file")
    p.set_defaults(func=main)


def sweep_plots(rep, args) -> None:
    """--plot-parallel and --plot-importance (before any output: a refusal prints one line)."""
    from reports import sweep_plots as sp

    if args.plot_parallel and not rep.summary.empty:
        sp.plot_parallel(rep.summary, rep.runs, args.metric, args.plot_parallel)
        print(f"parallel-coordinates plot written to {args.plot_parallel}", file=sys.stderr)
    if args.plot_importance:
        imp = sp.plot_importance(rep.runs, args.metric, args.plot_importance)
        top = ", ".join(f"{k} {v:.2f}" for k, v in imp.items())
        print(f"importance plot written to {args.plot_importance} ({top})", file=sys.stderr)


def measured_records(args: argparse.Namespace, lk: list) -> list[dict] | None:
    """--measured's records (UsageError naming what is wrong)."""
    if not args.measured:
        return None
    from reports.measured import load

    try:
        records = load(args.measured)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not lk:
        raise UsageError("--measured: give --link too (the records are per link)")
    return records


def main(args: argparse.Namespace) -> int:
    import compression
    from reports import plots, table
    from reports.link import MICROBATCHES, parse_links
    from reports.plots import DEFAULT_PLOT_LINK
    from reports.sweep_plots import PlotRefused

    try:
        uri = experiment_or_fail(args)
        check_metric(args.metric)
        lk = links(args.link)
        vs = str(compression.parse_spec(args.vs))
        if args.microbatches is not None and args.microbatches < 1:
            raise UsageError(f"--microbatches {args.microbatches}: must be at least 1")
        records = measured_records(args, lk)
    except compression.SpecError as e:
        return fail(f"--vs: {e}")
    except UsageError as e:
        return fail(str(e))
    rep = table.report(
        uri,
        args.name,
        args.metric,
        vs=vs,
        links=lk,
        include_stopped=args.include_stopped,
        target_gap=args.target_gap,
        pair_across=args.pair_across_machines,
        microbatches=args.microbatches or MICROBATCHES,
        measured=records,
    )
    try:
        sweep_plots(rep, args)
    except PlotRefused as e:
        return fail(str(e))
    text = table.render(rep, args.metric, args.format, vs)
    print(text, end="")
    if args.plot and not rep.summary.empty:
        plots.plot(rep.summary, args.metric, args.plot, title=args.name)
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.plot_tta and not rep.summary.empty:
        from reports.curves import plot_tta

        at = lk[0] if lk else parse_links(DEFAULT_PLOT_LINK)[0]
        if plot_tta(rep.summary, rep.runs, args.metric, at, args.plot_tta):
            print(f"time-to-accuracy plot written to {args.plot_tta}", file=sys.stderr)
        else:
            print("--plot-tta: no run of this experiment logged a validation curve", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0  # a reading command: the sweep's summary run is written by `run` and `rerun`
