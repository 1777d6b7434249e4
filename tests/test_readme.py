"""Every `python sweep.py` command of the bash blocks of the README and docs/*.md, run as written from a fresh
shell (with the venv's python), with a temporary MLflow store and Ray folder, tiny data limits
for a single run, and --dry-run for sweeps (what they would run is checked, nothing trains).
A documented command that fails fails the suite. Commands naming the user's own data (/data,
/models) must refuse with one line naming the missing path; `--resume` with no interrupted
sweep must say so."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import link_check
from tests.helpers import log_finished_runs

REPO = Path(__file__).resolve().parent.parent
TINY_SINGLE = ["--limit-train", "64", "--limit-val", "32", "--batch-size", "16", "--max-length", "32"]


DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]  # the front page and the reference


def readme_commands() -> list[str]:
    """`python sweep.py ...` lines of the ```bash blocks of the README and of docs/*.md,
    continuation lines joined."""
    text = "\n".join(p.read_text() for p in DOCS)
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" # ")[0].strip()
            if line.startswith("python sweep.py "):
                out.append(line)
    return list(dict.fromkeys(out))  # a command the front page and a reference file share runs once


def test_the_readme_has_the_commands_this_test_runs():
    cmds = readme_commands()
    subs = {shlex.split(c)[2] for c in cmds}
    assert {"single", "spaces", "run", "report", "best", "rerun"} <= subs, subs
    assert any("--epochs 2" in c and " single " in c for c in cmds)  # the example that once crashed


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The experiments the README's report/best/rerun lines read: the demo space's configs
    (so its config ids are the README's), two seeds each, as finished runs."""
    import search_spaces
    import trainables

    d = tmp_path_factory.mktemp("readme")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    space = search_spaces.get("demo")
    base = {**space.training_for("fashion_mnist"), "task": "fashion_mnist"}
    cut = trainables.default_placement("fashion_mnist")
    trials = [{**base, "placement": cut, **row, "seed": s} for row in space.rows for s in (0, 1)]

    def metrics(t):
        bits = {"none": 32.0, "uniform:b=8": 8.0, "uniform:b=2": 2.0}.get(t["fwd"], 4.0)
        return {"val_acc": 0.5 + bits / 100 + 0.01 * t["seed"], "train_loss": 1.0, "bytes_fwd": 1000 * bits,
                "bytes_bwd": 1000 * bits, "ratio": bits / 32, "step_time": 0.2, "compress_time": 0.01,
                "snr_fwd_db": 30.0, "snr_bwd_db": 20.0, "buffer_mb": 0.0}  # fmt: skip

    for name in ("cv", "ex", "front"):
        log_finished_runs(uri, name, trials, metrics)
    return d, uri


def run_as_written(cmd: str, d: Path, uri: str):
    # run from a scratch folder (outputs land there); a path into the checkout is the checkout's
    args = [str(REPO / a) if not a.startswith("-") and "/" in a and (REPO / a).is_file() else a
            for a in shlex.split(cmd)[2:]]  # fmt: skip
    sub = args[0]
    if sub in ("run", "rerun", "report", "best"):
        args += ["--tracking-uri", uri]
    if sub in ("run", "rerun"):
        args += ["--storage", str(d / "ray"), "--dry-run"]
    if sub == "single":
        args += TINY_SINGLE
    if sub == "link-check":  # the README's links, one method of one family, one step a phase
        args += ["--family", "cv", "--method", "none", "--steps", "1"]
    return subprocess.run(
        [sys.executable, str(REPO / "sweep.py"), *args], cwd=d, capture_output=True, text=True, timeout=600
    )


def slow(cmd: str) -> bool:
    """A real shaped link or a training of more than a few seconds: make test-slow runs it."""
    return " link-check " in f" {cmd} " or (" single " in cmd and "--epochs 2" in cmd)


@pytest.mark.parametrize("cmd", [pytest.param(c, marks=pytest.mark.slow) if slow(c) else c for c in readme_commands()])
def test_readme_command_runs_as_written(cmd, store):
    d, uri = store
    r = run_as_written(cmd, d, uri)
    user_paths = [p for p in shlex.split(cmd) if p.startswith(("/data", "/models", "/shared"))]
    if user_paths:  # the user's own data (or GPU): refused in one line that names what is missing
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stdout + r.stderr
        assert any(p in r.stderr for p in user_paths) or "no GPU is visible" in r.stderr, r.stderr
    elif " link-check" in cmd and link_check.missing_tools():  # not root, or no tc: one line, exit 2
        assert r.returncode == 2 and r.stderr.startswith("link-check: "), r.stdout + r.stderr
    elif "--resume" in cmd:
        assert r.returncode == 2 and "--resume: no sweep named" in r.stderr, r.stdout + r.stderr
    else:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        sub = shlex.split(cmd)[2]
        fields = {  # what each command's output must hold, not only its exit status
            "spaces": ("seed-cv", "explore", "first:1,last:1"),
            "report": ("| placement |", "| N |", "Δ vs none"),
            "best": ("| placement |", "| N |"),
            "run": ("dry run:",),
            "rerun": ("rerun:",) if "--failed" not in cmd else ("whose latest run is FAILED",),
            "single": ("fwd=",),
        }.get(sub, ())
        for field in fields:
            assert field in r.stdout, (cmd, field, r.stdout[-2000:])
        if " --link " in cmd and sub in ("report", "best"):
            link = cmd.split("--link ")[1].split()[0].split(",")[0]
            assert f"@{link}" in r.stdout, (cmd, r.stdout[-2000:])
        if "--plot " in cmd:
            assert (d / cmd.split("--plot ")[1].split()[0]).stat().st_size > 10_000
    if " link-check" in cmd and r.returncode == 0:  # a row for the cv none row at each of the command's links
        from reports.link import parse_links

        given = cmd.split("--link ")[1].split()[0] if "--link " in cmd else "100mbit+5ms,1gbit"
        for lk in parse_links(given):
            assert f"| cv | none | {lk.label} |" in r.stdout, r.stdout
    if " single " in cmd and "--out" in cmd:
        import json

        out = json.loads((d / cmd.split("--out ")[1].split()[0]).read_text())
        epochs = int(cmd.split("--epochs ")[1].split()[0])
        assert [h["epoch"] for h in out["history"]] == list(range(1, epochs + 1))
