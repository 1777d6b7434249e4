"""sweep.py results: docs/results/ from MLflow and runs.csv (or runs.csv alone), and the
sweeps behind it (--plan, which `make results` loops over)."""

from __future__ import annotations

import argparse

from . import fail
from .flags import add_pairing

EPILOG = """examples:
  sweep.py results --out docs/results                       # MLflow + runs.csv -> page, runs.csv, README block
  sweep.py results --from docs/results/runs.csv             # the page again, without MLflow
  sweep.py results --plan                                   # the sweeps: experiment space seeds, one a line
"""


def register(sub) -> None:
    p = sub.add_parser(
        "results",
        help="write docs/results (the results page) from MLflow and runs.csv",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="docs/results")
    p.add_argument("--from", dest="src", help="build from this runs.csv only (no MLflow)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--readme", default="README.md", help="README whose results block is replaced ('' for none)")
    add_pairing(p)
    p.add_argument("--plan", action="store_true", help="print the sweeps (experiment space seeds), one a line")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="--plan: the CPU sweeps or the GPU ones")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reports import linkpage, page, runs
    from reports.sections import plan
    from schema import default_tracking_uri

    if args.plan:
        print("\n".join(" ".join(map(str, sweep)) for sweep in plan(args.device)))
        return 0
    out = Path(args.out)
    if args.src:
        if not Path(args.src).is_file():
            return fail(f"--from {args.src!r}: no such file")
        df = runs.read_csv(Path(args.src))
    else:
        df = page.collect(args.tracking_uri or default_tracking_uri(), out / "runs.csv")
        runs.write_csv(df[df["status"] == "FINISHED"], out / "runs.csv")
    try:
        records = linkpage.load(out)
    except ValueError as e:
        return fail(str(e))
    _, verdicts = page.build(out, df, pair_across=args.pair_across_machines, records=records)
    if args.readme and Path(args.readme).is_file():
        page.update_readme(Path(args.readme), out.resolve(), verdicts, df)
        linkpage.update(Path(args.readme), df, records)
    print(f"wrote {out}/README.md ({len(df)} runs, {sum(v.decided for v in verdicts)} claims decided)")
    return 0
