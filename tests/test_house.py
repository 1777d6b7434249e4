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
        files = [REPO / "sweep.py"] if pkg == "sweep" else sorted((REPO / pkg).rglob("*.py"))
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


def source_files() -> dict[Path, str]:
    """Every project source file outside tests/ (and the venv, docs and stores)."""
    skip = (".venv", "tests", "docs", "mlruns", "ray_results", "data", ".git")
    return {f: f.read_text() for f in REPO.rglob("*.py") if not f.relative_to(REPO).parts[0].startswith(skip)}


def test_one_owner_per_fact():
    """The default cuts, the repository root and the metric list are each written once, and
    each is written somewhere (a needle that disappeared would pass an owners-only check)."""
    texts = source_files()
    owners = {
        '"first:1,last:2"': {"trainables/tasks/__init__.py", "search_spaces/study.py"},  # the default, the study's
        "Path(__file__).resolve().parent.parent": {"schema/__init__.py"},
        "(SNR_FWD_DB, SNR_BWD_DB, BYTES_FWD": {"schema/__init__.py"},
    }
    for needle, allowed in owners.items():
        found = {str(f.relative_to(REPO)) for f, t in texts.items() if needle in t}
        assert found == allowed, (needle, found, allowed)


# config keys first: the run's tag copies the config field's name, and config keys are the
# trainables' (their DEFAULTS)
CONFIG_KEY_TAGS = {"seed", "task", "placement", "device"}


def schema_names() -> set[str]:
    import schema

    tags = {v for k, v in vars(schema).items() if k.startswith("TAG_") and isinstance(v, str)}
    return (set(schema.METRICS) | set(schema.FACTS) | tags) - CONFIG_KEY_TAGS


def bare_names(tree: ast.AST, names: set[str]) -> list[tuple[str, int]]:
    """String literals equal to a schema name (docstrings and f-string text aside)."""
    skip = set()
    for n in ast.walk(tree):
        body = getattr(n, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            skip.add(id(first.value))
        if isinstance(n, ast.JoinedStr):
            skip |= {id(c) for c in ast.walk(n)}
    return [
        (n.value, n.lineno)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names and id(n) not in skip
    ]


def test_schema_owns_every_metric_and_tag_name():
    """Outside schema/ a metric key, fact or tag name is written through its constant."""
    names = schema_names()
    bad = [
        f"{f.relative_to(REPO)}:{line} {value!r}"
        for f, text in source_files().items()
        if f.relative_to(REPO).parts[0] != "schema"
        for value, line in bare_names(ast.parse(text), names)
    ]
    assert not bad, bad


def test_the_bare_name_check_catches_a_bare_name():
    tree = ast.parse('"""val_acc in a docstring is fine"""\nx = row["val_acc"]\ny = f"{m}_val_acc"\n')
    assert bare_names(tree, schema_names()) == [("val_acc", 2)]


def test_no_function_over_sixty_lines():
    long = [
        f"{f.relative_to(REPO)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for f, text in source_files().items()
        for n in ast.walk(ast.parse(text))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60
    ]
    assert not long, long


def test_boundary_knows_no_method_by_type_or_name():
    """Statefulness, default and paired backward are the compressors' attributes."""
    import compression

    text = (REPO / "compression" / "boundary.py").read_text()
    tree = ast.parse(text)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "isinstance"]
    assert not calls
    methods = set(compression.METHODS)
    compared = {
        c.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Compare)
        for c in ast.walk(n)
        if isinstance(c, ast.Constant) and isinstance(c.value, str)
    }
    assert not compared & methods, compared & methods


def test_reports_write_nothing_to_mlflow():
    # tuning writes runs (trials, parents, the summary run); reports compute and read
    import re

    writes = re.compile(r"\.(log_batch|log_artifact|log_metric|log_param|set_tag|set_terminated|create_run|"
                        r"create_experiment|delete_run)\(|experiment_id\([^)]*create=True")  # fmt: skip
    found = [f"{p.relative_to(REPO)}:{i}" for p in sorted((REPO / "reports").glob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if writes.search(line)]  # fmt: skip
    assert not found, found
