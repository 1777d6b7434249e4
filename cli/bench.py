"""sweep.py bench: compressor speed and quality as ratios to x.clone(), and (--step) the
training step time of the CV and NLP defaults with each method against the uncompressed step."""

from __future__ import annotations

import argparse

from trainables import names

from . import fail


def register(sub) -> None:
    b = sub.add_parser("bench", help="compressor speed (x clone), SNR and bits; --step: step time vs none")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--quick", action="store_true", help="one small shape (a smoke test)")
    b.add_argument("--memory", action="store_true", help="also peak extra memory per method (a process each)")
    b.add_argument("--real", action="store_true", help="SNR at equal bits on the CV and NLP defaults' real cut tensors")
    b.add_argument("--step", action="store_true", help="step time / step time of none, CV and NLP defaults")
    b.add_argument("--steps", type=int, default=24, help="--step: timed steps per method and round")
    b.add_argument("--rounds", type=int, default=3, help="--step: interleaved rounds (the median is kept)")
    b.add_argument("--task", choices=["cv", "nlp"], help="--step: one default only")
    b.add_argument("--gpu-check", action="store_true", help="the GPU check (make gpu-check): benches and a GPU sweep")
    b.add_argument("--smoke", action="store_true", help="--gpu-check on tiny shapes (its CPU form, in the tests)")
    b.add_argument("--device", choices=names.DEVICES, default="cpu", help="where to measure (default cpu)")
    b.add_argument("--precision", choices=names.PRECISIONS, default="fp32", help="--step: autocast precision")
    b.add_argument("--setting", metavar="SPACE", help="--step: time `none` in a space's setting (model, input, batch)")
    b.add_argument("--record", metavar="FILE", help="--step --setting: append the measured step here "
                   "(docs/results/steps.jsonl: the results page estimates a not-run sweep from it)")  # fmt: skip
    b.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from trainables import ConfigError
    from trainables.runtime import resolve_device

    try:  # one check of the device for every bench; the GPU check means a GPU unless told cpu
        dev = str(resolve_device("cuda" if args.gpu_check and args.device == "auto" else args.device))
    except ConfigError as e:
        hint = " (--gpu-check --device cpu --smoke is its CPU form)" if args.gpu_check else ""
        return fail(f"{e}{hint}")
    if args.gpu_check:
        from benchmarks import gpu_check

        return gpu_check.report(gpu_check.run(dev, args.smoke))
    if args.real:
        from benchmarks import real_snr

        real_snr.run()
        return 0
    if args.step:
        return _step(args, dev)
    from benchmarks import compressors

    if args.quick:
        compressors.run(shapes=[(4, 24, 28, 28)], specs=compressors.SPECS[:6], repeats=1, device=dev)
    else:
        compressors.run(repeats=args.repeats, device=dev)
    if args.memory:
        from benchmarks import memory

        memory.run(shape=(4, 24, 28, 28) if args.quick else (256, 1280, 7, 7))
    return 0


def _step(args: argparse.Namespace, dev: str) -> int:
    """bench --step: the defaults' table, or one space's setting (--setting), recorded (--record)."""
    import search_spaces
    from benchmarks import step
    from trainables import ConfigError

    if args.record and not args.setting:
        return fail("--record: give --setting SPACE (the space whose step it records)")
    if args.setting and args.setting not in search_spaces.names():
        return fail(f"--setting {args.setting}: not a space; spaces: {', '.join(search_spaces.names())}")
    tasks = (args.task,) if args.task else ("cv", "nlp")
    setups = (step.setup_for(args.setting),) if args.setting else None
    specs = ["none"] if args.setting else None
    try:
        res = step.run(args.steps, args.rounds, args.quick, tasks, dev, args.precision, setups, specs)
    except ConfigError as e:  # e.g. fp16 on a CPU
        return fail(str(e))
    if args.record:
        line = step.record(args.record, args.setting, next(iter(res.values())), dev, args.precision)
        print(f"recorded {args.setting}: {line['step_s']:.3f} s/step on {line['device_name']} -> {args.record}")
    return 0
