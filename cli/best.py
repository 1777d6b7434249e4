"""sweep.py best: the top configs by a metric's seed mean, within a byte or ratio budget, or
ranked by estimated batch time at a link among those within a tolerance of the best."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

import schema

from . import UsageError, fail
from .checks import check_metric, experiment_or_fail, links
from .flags import add_selection_flags, add_store_flags

EPILOG = """examples:
  sweep.py best --name cv --top 5
  sweep.py best --name cv --max-ratio 0.2             # best accuracy sending at most 20% of fp32
  sweep.py best --name cv --link 100mbit --tolerance 0.01   # fastest at 100 Mbit/s within 1 pt of the best
  sweep.py best --name cv --link 100mbit --by tta     # soonest to the baseline's accuracy - 1 pt at 100 Mbit/s
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
    from reports import columns as cols
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
    rep = table.report(
        uri, args.name, args.metric, links=lk, include_stopped=args.include_stopped, target_gap=args.target_gap
    )
    s = rep.summary.dropna(subset=[cols.mean(args.metric)])
    why = [f"{len(s)} configs with a {args.metric}"]
    if args.max_ratio is not None:
        s = s[s[schema.RATIO] <= args.max_ratio]
        why.append(f"{len(s)} within --max-ratio {args.max_ratio:g}")
    if args.max_bytes is not None:
        s = s[(s[schema.BYTES_FWD] + s[schema.BYTES_BWD]) <= args.max_bytes]
        why.append(f"{len(s)} within --max-bytes {args.max_bytes:g}")
    col = cols.mean(args.metric)
    if lk and not s.empty:
        best = s[col].max() if args.mode == "max" else s[col].min()
        near = (s[col] >= best - args.tolerance) if args.mode == "max" else (s[col] <= best + args.tolerance)
        by = (cols.EST_BATCH if args.by == "batch" else cols.TTA_S).name(lk[0].label)
        s = s[near].sort_values(by, na_position="last")
        why.append(f"{len(s)} within --tolerance {args.tolerance:g} of the best {args.metric} ({best:.4g})")
        rep.notes.append(
            f"ranked by {by}" + (" (configs that never reached the target last)" if args.by == "tta" else "")
        )
    else:
        s = s.sort_values(col, ascending=args.mode == "min", kind="stable")
    rep.notes.append(explain(why, len(s), args.top))
    return rep, s.head(args.top)


def explain(steps: list[str], kept: int, top: int) -> str:
    """How the selection got to its answer, and which flag to loosen when little is left."""
    line = "; ".join(steps)
    if kept <= 1 and len(steps) > 1:
        flags = [w.split()[2] for w in steps[1:]]
        line += f": loosen {' or '.join(flags)} to see more"
    elif kept > top:
        line += f"; the first {top} shown (--top)"
    return line


def main(args: argparse.Namespace) -> int:
    from reports import table

    try:
        rep, top = select(args, experiment_or_fail(args))
    except UsageError as e:
        return fail(str(e))
    rep.summary = top if not top.empty else pd.DataFrame(columns=rep.summary.columns)
    print(table.render(rep, args.metric, args.format), end="")
    if args.format != "md":  # the notes are in the Markdown; JSON and CSV stay parseable
        print(f"best: {rep.notes[-1]}", file=sys.stderr)
    return 0
