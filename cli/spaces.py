"""sweep.py spaces: the named search spaces (and their rows with -v)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    sp = sub.add_parser("spaces", help="list the named search spaces")
    sp.add_argument("-v", "--verbose", action="store_true", help="list every row")
    sp.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import search_spaces
    import trainables

    for name in search_spaces.names():
        sp = search_spaces.get(name)
        size = f"{len(sp.rows)} rows" if sp.is_grid else "Optuna"
        print(f"{name:12s} [{size}, default task {sp.default_task}] {sp.description}")
        if args.verbose and sp.is_grid:
            default = trainables.default_placement(sp.default_task)
            for row in sp.rows:
                bwd = f"  bwd={row['bwd']}" if row.get("bwd") else ""
                print(f"    {row.get('placement') or default:16s} {row['fwd']}{bwd}")
    return 0
