"""The house: imports only go down the floors, every package installs, one owner per fact."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOR = {
    "compression": 0,
    "schema": 0,
    "trainables": 1,
    "search_spaces": 1,
    "tuning": 2,
    "reports": 2,
    "benchmarks": 2,
    "cli": 3,
    "sweep": 3,
}
FORBIDDEN = {("tuning", "reports"), ("reports", "tuning"), ("compression", "schema")}
THIRD_PARTY_BANNED = {"compression": {"ray", "mlflow", "transformers", "torchvision"}, "trainables": {"ray"}}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_imports_only_go_down_the_floors():
    bad = []
    for pkg, floor in FLOOR.items():
        files = [REPO / "sweep.py"] if pkg == "sweep" else sorted((REPO / pkg).glob("*.py"))
        assert files, pkg
        for f in files:
            for mod in imports(f):
                if mod in FLOOR and mod != pkg and (FLOOR[mod] > floor or (pkg, mod) in FORBIDDEN):
                    bad.append(f"{f.relative_to(REPO)} imports {mod}")
                if mod in THIRD_PARTY_BANNED.get(pkg, ()):
                    bad.append(f"{f.relative_to(REPO)} imports {mod}")
    assert not bad, bad


def test_every_package_imports_from_outside_the_repository(tmp_path):
    code = "import cli, compression, schema, trainables, search_spaces, tuning, reports, benchmarks, sweep"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_one_owner_per_fact():
    """Metric names, the default cuts and the repository root are each written once."""
    texts = {f: f.read_text() for f in REPO.glob("*/*.py") if ".venv" not in str(f) and "tests" not in str(f)}
    texts[REPO / "sweep.py"] = (REPO / "sweep.py").read_text()
    owners = {
        '"first:1,last:2"': {"trainables/__init__.py", "search_spaces/study.py"},  # the default, and the study's
        "Path(__file__).resolve().parent.parent": {"schema/__init__.py"},
        '"snr_fwd_db", "snr_bwd_db", "bytes_fwd"': {"schema/__init__.py"},
    }
    for needle, allowed in owners.items():
        found = {str(f.relative_to(REPO)) for f, t in texts.items() if needle in t}
        assert found <= allowed, (needle, found - allowed)
