"""sweep.py best: the top configs by a metric's seed mean, within a byte or ratio budget, or
ranked by estimated batch time at a link among those within a tolerance of the best."""

from __future__ import annotations

import argparse

import pandas as pd

from . import UsageError, add_selection_flags, add_store_flags, check_metric, experiment_or_fail, fail, links

EPILOG = """examples:
  sweep.py best --name cv --top 5
  sweep.py best --name cv --max-ratio 0.2             # best accuracy sending at most 20% of fp32
  sweep.py best --name cv --link 100mbit --tolerance 0.01   # fastest at 100 Mbit/s within 1 pt of the best
"""


def register(sub) -> None:
    p = sub.add_parser(
        "best",
        help="top configs by seed mean (optionally under a budget or at a link)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_flags(p)
    add_selection_flags(p, top=5)
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.set_defaults(func=main)


def select(args, uri: str):
    """(report, the selected summary rows in rank order)."""
    from reports import table

    check_metric(args.metric)
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be at least 1")
    for flag in ("max_ratio", "max_bytes", "tolerance"):
        v = getattr(args, flag)
        if v is not None and v < 0:
            raise UsageError(f"--{flag.replace('_', '-')} {v}: must be 0 or more")
    lk = links(args.link)
    if len(lk) > 1:
        raise UsageError(f"--link {args.link!r}: give one link to rank by")
    rep = table.report(uri, args.name, args.metric, links=lk, include_stopped=args.include_stopped)
    s = rep.summary.dropna(subset=[f"{args.metric}_mean"])
    if args.max_ratio is not None:
        s = s[s["ratio"] <= args.max_ratio]
    if args.max_bytes is not None:
        s = s[(s["bytes_fwd"] + s["bytes_bwd"]) <= args.max_bytes]
    col = f"{args.metric}_mean"
    if lk and not s.empty:
        best = s[col].max() if args.mode == "max" else s[col].min()
        near = (s[col] >= best - args.tolerance) if args.mode == "max" else (s[col] <= best + args.tolerance)
        s = s[near].sort_values(f"est_batch_s_{lk[0].label}")
    else:
        s = s.sort_values(col, ascending=args.mode == "min", kind="stable")
    return rep, s.head(args.top)


def main(args: argparse.Namespace) -> int:
    from reports import table

    try:
        rep, top = select(args, experiment_or_fail(args))
    except UsageError as e:
        return fail(str(e))
    rep.summary = top if not top.empty else pd.DataFrame(columns=rep.summary.columns)
    print(table.render(rep, args.metric, args.format), end="")
    return 0
