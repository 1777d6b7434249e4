"""sweep.py bench: compressor speed and quality as ratios to x.clone(), and (--step) the
training step time of the CV and NLP defaults with each method against the uncompressed step."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    b = sub.add_parser("bench", help="compressor speed (x clone), SNR and bits; --step: step time vs none")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--quick", action="store_true", help="one small shape (a smoke test)")
    b.add_argument("--memory", action="store_true", help="also peak extra memory per method (a process each)")
    b.add_argument("--step", action="store_true", help="step time / step time of none, CV and NLP defaults")
    b.add_argument("--steps", type=int, default=24, help="--step: timed steps per method and round")
    b.add_argument("--rounds", type=int, default=3, help="--step: interleaved rounds (the median is kept)")
    b.add_argument("--task", choices=["cv", "nlp"], help="--step: one default only")
    b.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.step:
        from benchmarks import step

        step.run(args.steps, args.rounds, args.quick, (args.task,) if args.task else ("cv", "nlp"))
        return 0
    from benchmarks import compressors

    if args.quick:
        compressors.run(shapes=[(4, 24, 28, 28)], specs=compressors.SPECS[:6], repeats=1)
    else:
        compressors.run(repeats=args.repeats)
    if args.memory:
        from benchmarks import memory

        memory.run(shape=(4, 24, 28, 28) if args.quick else (256, 1280, 7, 7))
    return 0
