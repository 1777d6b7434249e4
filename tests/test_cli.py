import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run(
        [sys.executable, str(REPO / "sweep.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**__import__("os").environ, "COMPSWEEP_COMPILE": "0"},
    )


def test_each_subcommand_owns_its_parser():
    """sweep.py only dispatches: every subcommand is a module of cli/ with its own flags."""
    import importlib

    import sweep

    parser = sweep.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"run", "report", "best", "rerun", "single", "spaces", "bench", "results", "link-check"}
    own = {"run": "--objectives", "report": "--link", "best": "--max-ratio", "rerun": "--config-id", "bench": "--step"}
    own["link-check"] = "--family"
    for name, flag in own.items():
        assert flag in sub.choices[name].format_help()
        module = importlib.import_module(f"cli.{name.replace('-', '_')}")
        assert module.main is sub.choices[name].get_default("func")
    r = run("report", "--help")
    assert r.returncode == 0 and "est_batch_s" in r.stdout


def test_unknown_subcommand_exits_2():
    r = run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_spaces_lists_every_space_and_every_row():
    import search_spaces

    r = run("spaces", "-v")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    heads = [ln.split()[0] for ln in lines if not ln.startswith(" ")]
    assert heads == search_spaces.names()
    rows = [ln.split() for ln in lines if ln.startswith("    ")]
    expect = [row for n in search_spaces.names() for row in search_spaces.get(n).rows]
    assert len(rows) == len(expect)
    assert [r_[1] for r_ in rows] == [row["fwd"] for row in expect]  # placement, then the forward spec
    assert {r_[0] for r_ in rows} >= {"first:1,last:1", "first:1,last:2"}  # a row's own or its task's cut


def test_bench_quick_prints_ratios():
    import compression
    from benchmarks import compressors

    r = run("bench", "--quick")
    assert r.returncode == 0, r.stderr
    rows = {ln.split("│")[1].strip(): [c.strip() for c in ln.split("│")[2:-1]] for ln in r.stdout.splitlines()
            if ln.count("│") > 3}  # fmt: skip
    shape = (4, 24, 28, 28)
    for spec in compressors.SPECS[:6]:  # every spec a row: its time a multiple of clone's, its exact bits
        t, _, snr, bits = rows[spec][:4]
        assert t.endswith("x") and float(t[:-1]) > 0, (spec, rows[spec])
        assert bits == f"{compression.build(spec).bits(shape) / math.prod(shape):.3f}", (spec, bits)
    snr = {spec: float(rows[spec][2]) for spec in compressors.SPECS[:6]}
    assert snr["uniform:b=8"] > 30 > snr["uniform:b=4"] > 10  # 6 dB a bit, give or take the data
    assert snr["uniform:b=8,group=channel"] > snr["uniform:b=8"]  # a range per channel is tighter
    seed = rows["seed-style sortquant 6+2 (reference)"]
    assert abs(float(seed[2]) - float(rows["sortquant:b=6,s=2"][2])) < 1.0  # the study's own agrees within 1 dB


def test_memory_bench_counts_at_least_the_output():
    from benchmarks import memory

    # 16 MiB in, 16 MiB out; eager keeps a few full-size temporaries (compiled: one output)
    extra = memory.measure((4096, 1024), "uniform:b=8", compile_mode="0")
    assert 0.9 <= extra <= 5.0


@pytest.mark.slow
def test_gpu_check_cpu_form_passes_every_check():
    """make gpu-check's CPU form: the same script on tiny shapes, the sweep's runs say cpu."""
    r = run("bench", "--gpu-check", "--device", "cpu", "--smoke")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = [ln for ln in r.stdout.splitlines() if ln.count("│") == 4]
    checks = {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in rows if "gpu-check" not in ln}
    assert checks.get("compressors on cpu") == "ok" and checks.get("4-trial sweep, --cpus-per-trial 1") == "ok", checks
    assert sum(k.startswith("step ") for k in checks) == 4 and set(checks.values()) == {"ok"}  # 2 setups x fp32/bf16


def test_bench_step_at_bf16_prints_its_table():
    r = run("bench", "--step", "--quick", "--task", "nlp", "--precision", "bf16")
    assert r.returncode == 0, r.stderr
    assert "cpu, bf16" in r.stdout and "uniform:b=8" in r.stdout


def test_device_cuda_without_a_gpu_exits_2_in_one_line():
    import torch

    if torch.cuda.is_available():
        import pytest

        pytest.skip("a GPU is visible: the refusal is for machines without one")
    for args in (["single", "--task", "fashion_mnist", "--device", "cuda"],
                 ["run", "--space", "demo", "--device", "cuda", "--gpus-per-trial", "1", "--dry-run"],
                 ["run", "--space", "demo", "--device", "cpu", "--gpus-per-trial", "1", "--dry-run"]):  # fmt: skip
        r = run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "cuda" in r.stderr or "--gpus-per-trial" in r.stderr
