#!/usr/bin/env python
"""compsweep: what compressing activations and gradients at a split model's cut points costs.

Subcommands: run | report | best | rerun | single | spaces | bench. See README.md.
"""

from __future__ import annotations

import argparse
import sys


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks import compressors

    if args.quick:
        compressors.run(shapes=[(4, 24, 28, 28)], specs=compressors.SPECS[:6], repeats=1)
    else:
        compressors.run(repeats=args.repeats)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep.py", description=__doc__.strip().splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="{run,report,best,rerun,single,spaces,bench}")

    b = sub.add_parser("bench", help="compressor speed (x clone), SNR and bits on the seed's shapes")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--quick", action="store_true", help="one small shape (a smoke test)")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
