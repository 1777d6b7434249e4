"""sweep.py bench: compressor speed and quality as ratios to x.clone(), and (--step) the
training step time of the CV and NLP defaults with each method against the uncompressed step."""

from __future__ import annotations

import argparse

from . import fail


def register(sub) -> None:
    b = sub.add_parser("bench", help="compressor speed (x clone), SNR and bits; --step: step time vs none")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--quick", action="store_true", help="one small shape (a smoke test)")
    b.add_argument("--memory", action="store_true", help="also peak extra memory per method (a process each)")
    b.add_argument("--step", action="store_true", help="step time / step time of none, CV and NLP defaults")
    b.add_argument("--steps", type=int, default=24, help="--step: timed steps per method and round")
    b.add_argument("--rounds", type=int, default=3, help="--step: interleaved rounds (the median is kept)")
    b.add_argument("--task", choices=["cv", "nlp"], help="--step: one default only")
    b.add_argument("--gpu-check", action="store_true", help="the GPU check (make gpu-check): benches and a GPU sweep")
    b.add_argument("--smoke", action="store_true", help="--gpu-check on tiny shapes (its CPU form, in the tests)")
    b.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu", help="where to measure (default cpu)")
    b.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="--step: autocast precision")
    b.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.gpu_check:
        from benchmarks import gpu_check

        device = "cuda" if args.device == "auto" else args.device
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                return fail("--gpu-check --device cuda: no GPU is visible here (--device cpu --smoke is its CPU form)")
        return gpu_check.report(gpu_check.run(device, args.smoke))
    if args.step:
        import trainables
        from benchmarks import step

        try:
            step.run(
                args.steps, args.rounds, args.quick, (args.task,) if args.task else ("cv", "nlp"),
                args.device, args.precision,
            )  # fmt: skip
        except trainables.ConfigError as e:
            return fail(str(e))
        return 0
    from benchmarks import compressors
    from trainables import ConfigError
    from trainables.runtime import resolve_device

    try:
        dev = str(resolve_device(args.device))
    except ConfigError as e:
        return fail(str(e))

    if args.quick:
        compressors.run(shapes=[(4, 24, 28, 28)], specs=compressors.SPECS[:6], repeats=1, device=dev)
    else:
        compressors.run(repeats=args.repeats, device=dev)
    if args.memory:
        from benchmarks import memory

        memory.run(shape=(4, 24, 28, 28) if args.quick else (256, 1280, 7, 7))
    return 0
