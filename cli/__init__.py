"""The command line (floor 3): ``sweep.py`` builds the top parser and dispatches; each
subcommand is one module here that owns its parser, its help and its run function.
What several subcommands share is one module each: ``flags`` (the flag groups), ``checks`` (the
pre-flight checks and the plan's settings), ``launch`` (running a plan and writing what the sweep
leaves in MLflow beside its trials); this file holds the exit convention."""

from __future__ import annotations

import sys

SUBCOMMANDS = ("run", "report", "best", "rerun", "single", "spaces", "bench", "results", "link_check")


class UsageError(Exception):
    """Bad input: one line on stderr, exit status 2, nothing written."""


def fail(msg: str) -> int:
    print(f"sweep.py: error: {msg}", file=sys.stderr)
    return 2
