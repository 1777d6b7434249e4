"""sweep.py link-check: the link model against a real shaped link (benchmarks.link_check)."""

from __future__ import annotations

import argparse
import sys

from reports.schedule import SCHEDULES

from . import UsageError, fail
from .checks import links

EPILOG = """runs the CV and NLP defaults as a real pipeline (one process per stage over TCP), unshaped and
then shaped with tc (tbf rate + netem delay) per link; as root. The stages sit on the loopback of
a network namespace it creates, or (--netns N) in N namespaces joined by veth pairs.
serial (default): one batch at a time; measured_s is the median step time on the shaped link,
estimated_s the unshaped step time + the run's bytes at the rate + 2 x delay x cuts.
--schedule gpipe|1f1b: M micro-batches a step, compute and transfer overlapped; the steady step
time (windows of --steps steps until three agree within 1%) against report's est_batch_s_1f1b
from each stage's measured work and each cut's bytes, with the serial and overlapped bounds.

examples:
  sweep.py link-check --link 100mbit+5ms,1gbit
  sweep.py link-check --link 100mbit --family cv --method 'none;uniform:b=8' --format json
  sweep.py link-check --schedule 1f1b --microbatches 4 --netns 2 --placement first:8 --link 10mbit,100mbit,1gbit
"""


def register(sub) -> None:
    p = sub.add_parser("link-check", help="the link model against a real tc-shaped link (root)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--link", default="100mbit+5ms,1gbit", help="links to shape, e.g. 100mbit+5ms,1gbit")
    p.add_argument("--method", help="forward specs separated by ';', each optionally followed by ' bwd=SPEC' "
                   "(default: the check's own list, each with its default backward)")
    p.add_argument("--family", default="cv,nlp", help="cv, nlp or both")
    p.add_argument("--steps", type=int, default=None, help="timed steps per phase (serial: 5) or window (schedule: 10)")
    p.add_argument("--schedule", choices=SCHEDULES, help="micro-batched, overlapped (default: serial)")
    p.add_argument("--microbatches", type=int, default=4, help="micro-batches a step with --schedule (default 4)")
    p.add_argument("--windows", type=int, default=8, help="at most this many windows per link with --schedule")
    p.add_argument("--netns", type=int, default=0, help="one network namespace per stage, veth between (N = stages)")
    p.add_argument("--placement", help="the cuts (default: the task's); one cut = two stages")
    p.add_argument("--record", help="write the rows as JSON records here (report --measured reads them)")
    p.add_argument("--tta", action="store_true", help="measure nothing: time to target of --name's rows at the "
                   "steps --measured recorded (best compressed row over none, measured and estimated)")  # fmt: skip
    p.add_argument("--name", help="with --tta: the experiment whose steps to target count")
    p.add_argument("--measured", help="with --tta: the records of an earlier --record")
    p.add_argument("--from", dest="from_csv", help="with --tta: a runs.csv (sweep.py results) instead of MLflow")
    p.add_argument("--tracking-uri", help="with --tta: the MLflow store holding --name")
    p.add_argument("--format", choices=["md", "json"], default="md")
    p.set_defaults(func=main)


def tta(args: argparse.Namespace) -> int:
    """--tta: the measured time-to-target ratios of an experiment (no root, nothing measured)."""
    import json
    from pathlib import Path

    import schema
    from reports import measured, runs, table

    from .checks import experiment_or_fail

    try:
        lk = links(args.link)
        if not (args.name and args.measured):
            raise UsageError("--tta: give --name EXPERIMENT and --measured FILE (records of link-check --record)")
        try:
            records = measured.load(args.measured)
        except ValueError as e:
            raise UsageError(str(e)) from e
        if args.from_csv:
            if not Path(args.from_csv).is_file():
                raise UsageError(f"--from {args.from_csv}: no such file (a runs.csv written by sweep.py results)")
            df = runs.read_csv(Path(args.from_csv))
            df = df[df["experiment"] == args.name]
            if df.empty:
                raise UsageError(f"--name {args.name!r}: no runs of it in {args.from_csv}")
        else:
            df = runs.from_mlflow(experiment_or_fail(args), args.name)
    except UsageError as e:
        return fail(str(e))
    rep = table.build(df, schema.VAL_ACC, links=lk, measured=records)
    rows = measured.tta_ratios(rep.summary, lk)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    print("| task | placement | setting | link | soonest compressed row | its steps to target | none's | measured "
          "time to target ratio | estimated ratio |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        print(f"| {r['task']} | {r['placement']} | {r['setting'] or '(base)'} | {r['link']} | {r['best']} | "
              f"{r['steps_to_target']:.0f} | {r['baseline_steps']:.0f} | {r['measured_ratio']:.2f} | "
              f"{r['estimated_ratio']:.2f} |")
    for n in rep.notes:
        print(f"\n{n}")
    return 0


def _check(args: argparse.Namespace, families: list[str]) -> None:
    """The schedule options against the defaults they run on: UsageError naming what is wrong."""
    from benchmarks import link_check

    if args.microbatches < 1 or args.windows < 3:
        raise UsageError(f"--microbatches {args.microbatches} / --windows {args.windows}: at least 1 / at least 3")
    from trainables import check, placement

    if args.netns == 1 or args.netns < 0:
        raise UsageError(f"--netns {args.netns}: 0 (loopback) or the number of stages (at least 2)")
    try:
        configs = link_check.default_configs(families, args.placement)
        stages = {f: link_check.stage_count(c) for f, c in configs.items()}
        if args.placement:
            for cfg in configs.values():
                placement.resolve(check.meta_model(cfg), args.placement)
    except ValueError as e:
        raise UsageError(f"--placement {args.placement!r}: {e}") from e
    for fam, cfg in configs.items():
        if args.schedule and int(cfg["batch_size"]) % args.microbatches:
            raise UsageError(f"--microbatches {args.microbatches}: {fam}'s batch of {cfg['batch_size']} does not split "
                             "evenly")  # fmt: skip
        if args.netns and stages[fam] != args.netns:
            raise UsageError(f"--netns {args.netns}: {fam}'s placement has {stages[fam]} stages; give --placement "
                             f"with {args.netns - 1} cut(s), e.g. first:4")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    import compression
    from benchmarks import link_check
    from reports import measured

    if args.tta:
        return tta(args)
    try:
        lk = links(args.link)
        families = [f.strip() for f in args.family.split(",") if f.strip()]
        if not families or any(f not in ("cv", "nlp") for f in families):
            raise UsageError(f"--family {args.family!r}: cv, nlp or cv,nlp")
        methods = [m.strip() for m in args.method.split(";") if m.strip()] if args.method else None
        steps = args.steps if args.steps is not None else (10 if args.schedule else 5)
        if steps < 1:
            raise UsageError(f"--steps {steps}: must be at least 1")
        methods = methods or list(link_check.SCHEDULE_METHODS if args.schedule else link_check.METHODS)
        given = [measured.method_config(m) for m in methods]  # canonical where they enter, as rows store them
        methods = [measured.method_label({k: compression.canonical(v) for k, v in c.items()}) for c in given]
        _check(args, families)
    except compression.SpecError as e:
        return fail(f"--method: {e}")
    except UsageError as e:
        return fail(str(e))
    opts = {"schedule": args.schedule, "microbatches": args.microbatches, "windows": args.windows,
            "netns": args.netns, "placement": args.placement, "record": args.record}  # fmt: skip
    return link_check.main(sys.argv[2:], lk, methods, families, steps, args.format, opts)
