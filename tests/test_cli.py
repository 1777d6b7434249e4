import subprocess
import sys
from pathlib import Path

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
    assert set(sub.choices) == {"run", "report", "best", "rerun", "single", "spaces", "bench"}
    own = {"run": "--objectives", "report": "--link", "best": "--max-ratio", "rerun": "--config-id", "bench": "--step"}
    for name, flag in own.items():
        assert flag in sub.choices[name].format_help()
        assert importlib.import_module(f"cli.{name}").main is sub.choices[name].get_default("func")
    r = run("report", "--help")
    assert r.returncode == 0 and "est_batch_s" in r.stdout


def test_unknown_subcommand_exits_2():
    r = run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_spaces_lists_names():
    r = run("spaces", "-v")
    assert r.returncode == 0
    for name in ("seed-cv", "seed-nlp", "explore", "demo"):
        assert name in r.stdout
    assert "kmeans:b=6,iters=100" in r.stdout


def test_bench_quick_prints_ratios():
    r = run("bench", "--quick")
    assert r.returncode == 0, r.stderr
    assert "time/clone" in r.stdout and "seed-style" in r.stdout and "sortquant:b=6,s=2" in r.stdout


def test_memory_bench_counts_at_least_the_output():
    from benchmarks import memory

    # 16 MiB in, 16 MiB out; eager keeps a few full-size temporaries (compiled: one output)
    extra = memory.measure((4096, 1024), "uniform:b=8", compile_mode="0")
    assert 0.9 <= extra <= 5.0
