#!/usr/bin/env python
"""compsweep: what compressing activations and gradients at a split model's cut points costs.

Each subcommand lives in cli/<name>.py with its own parser; this file only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cli import SUBCOMMANDS, UsageError, fail


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep.py", description=__doc__.strip().splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="{" + ",".join(n.replace("_", "-") for n in SUBCOMMANDS) + "}")
    for name in SUBCOMMANDS:
        importlib.import_module(f"cli.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        return fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
