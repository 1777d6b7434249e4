"""sweep.py link-check: the link model against a real shaped link (benchmarks.link_check)."""

from __future__ import annotations

import argparse
import sys

from . import UsageError, fail
from .checks import links

EPILOG = """runs the CV and NLP defaults as a real pipeline (one process per stage over TCP) in a network
namespace it creates, unshaped and then shaped with tc (tbf rate + netem delay) per link; as root.
measured_s is the median step time on the shaped link, estimated_s the unshaped step time + the
run's bytes at the rate + 2 x delay x cuts, measured_over_estimated = measured / estimated.

examples:
  sweep.py link-check --link 100mbit+5ms,1gbit
  sweep.py link-check --link 100mbit --family cv --method 'none;uniform:b=8' --format json
"""


def register(sub) -> None:
    p = sub.add_parser("link-check", help="the link model against a real tc-shaped link (root)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--link", default="100mbit+5ms,1gbit", help="links to shape, e.g. 100mbit+5ms,1gbit")
    p.add_argument("--method", help="forward specs separated by ';' (default: the five of the check)")
    p.add_argument("--family", default="cv,nlp", help="cv, nlp or both")
    p.add_argument("--steps", type=int, default=5, help="timed steps per phase (default 5)")
    p.add_argument("--format", choices=["md", "json"], default="md")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import compression
    from benchmarks import link_check

    try:
        lk = links(args.link)
        families = [f.strip() for f in args.family.split(",") if f.strip()]
        if not families or any(f not in ("cv", "nlp") for f in families):
            raise UsageError(f"--family {args.family!r}: cv, nlp or cv,nlp")
        methods = [m.strip() for m in args.method.split(";") if m.strip()] if args.method else None
        if args.steps < 1:
            raise UsageError(f"--steps {args.steps}: must be at least 1")
        methods = methods or list(link_check.METHODS)
        for m in methods:
            compression.parse_spec(m)
    except compression.SpecError as e:
        return fail(f"--method: {e}")
    except UsageError as e:
        return fail(str(e))
    return link_check.main(sys.argv[2:], lk, methods, families, args.steps, args.format)
