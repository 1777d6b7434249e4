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


def test_help_lists_subcommands():
    r = run("--help")
    assert r.returncode == 0
    for sub in ("run", "report", "best", "rerun", "single", "spaces", "bench"):
        assert sub in r.stdout


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
