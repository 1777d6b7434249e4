"""The real sweep path: sweep.py run/report/best/rerun with a real Ray and a real MLflow
(sqlite in a temporary folder), on tiny data made here."""

import json
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import write_fashion_mnist

REPO = Path(__file__).resolve().parent.parent
TRAINING = {"model": "mobilenet_v2", "epochs": 2, "limit_train": 32, "limit_val": 16, "batch_size": 16}
ROWS = [
    {"fwd": "uniform:b=8", "placement": "first:1,last:1"},
    {"fwd": "sortquant:b=2,s=2", "placement": "first:1"},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    root = write_fashion_mnist(d / "fm", n_train=64, n_val=32)
    return d, root


def space_file(d: Path, rows, training=TRAINING) -> str:
    p = d / f"space{abs(hash(json.dumps(rows))) % 10**6}.json"
    p.write_text(json.dumps({"description": "test", "task": "fashion_mnist", "training": training, "rows": rows}))
    return str(p)


def cli(d: Path, *args, timeout=600):
    uri = f"sqlite:///{d / 'mlflow.db'}"
    extra = ["--tracking-uri", uri]
    if args[0] in ("run", "rerun"):
        extra += ["--storage", str(d / "ray")]
    return subprocess.run(
        [sys.executable, str(REPO / "sweep.py"), *args, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=_env(),
    )


def _env():
    import os

    return {**os.environ, "COMPSWEEP_COMPILE": "0"}


def runs(d: Path, name: str, status="FINISHED"):
    c = MlflowClient(f"sqlite:///{d / 'mlflow.db'}")
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return []
    flt = f"attributes.status = '{status}'" if status else ""
    found = c.search_runs([exp.experiment_id], flt, max_results=1000)
    return [r for r in found if "config_id" in r.data.tags and "compsweep.parent" not in r.data.tags]


def all_runs(d: Path, name: str):
    c = MlflowClient(f"sqlite:///{d / 'mlflow.db'}")
    return c.search_runs([c.get_experiment_by_name(name).experiment_id], max_results=1000)


@pytest.mark.slow
def test_sweep_report_best_rerun(env):
    d, root = env
    r = cli(d, "run", "--space", space_file(d, ROWS), "--root", str(root), "--seeds", "2", "--name", "s1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 finished, 0 failed of 4 planned" in r.stdout
    # a complete sweep keeps no checkpoints (nothing to resume); Tune's results stay
    assert "deleted the trials' checkpoints" in r.stdout and not list((d / "ray").glob("s1-*/*/checkpoint_*"))
    assert list((d / "ray").glob("s1-*/experiment_state-*.json"))
    assert "[" in r.stdout and "started " in r.stdout  # not a terminal: each start is told
    done = runs(d, "s1")
    assert len(done) == 4
    c = MlflowClient(f"sqlite:///{d / 'mlflow.db'}")
    for r in done:  # the curve: a tag reports read, and metric history against the global step
        curve = json.loads(r.data.tags["curve"])
        history = c.get_metric_history(r.info.run_id, "curve.val_acc")
        assert sorted(m.step for m in history) == curve["step"] and curve["val_acc"][-1] == r.data.metrics["val_acc"]
    same = cli(d, "run", "--space", space_file(d, ROWS), "--root", str(root), "--seeds", "2", "--name", "s1")
    assert same.returncode == 0 and "already has a FINISHED run" in same.stdout  # nothing is run twice
    assert len(runs(d, "s1", status=None)) == 4
    # a clean clone has no MLflow store, only the runs.csv the results page keeps: it skips the same
    from cli.run import finished_in_csv
    from reports.runs import frame, write_csv

    write_csv(frame(done, "s1"), d / "runs.csv")
    fresh = d / "fresh"
    fresh.mkdir()
    kept = cli(
        fresh,
        "run",
        "--space",
        space_file(d, ROWS),
        "--root",
        str(root),
        "--seeds",
        "2",
        "--name",
        "s1",
        "--done-from",
        str(d / "runs.csv"),
    )
    assert kept.returncode == 0 and "already has a FINISHED run" in kept.stdout, kept.stdout + kept.stderr
    pairs = {(r.data.tags["config_id"], r.data.tags["seed"]) for r in done}
    assert finished_in_csv(str(d / "runs.csv"), "s1") == pairs and len(pairs) == 4
    assert finished_in_csv(str(d / "runs.csv"), "other") == set()
    by_cfg = {}
    for run in done:
        assert run.data.params["epochs"] == "2" and run.data.tags["task"] == "fashion_mnist"
        # what reports need, logged by the trial itself (not rebuilt later from defaults)
        cuts = {"first:1,last:1": "2", "first:1": "1"}[run.data.params["placement"]]
        assert (run.data.params["run.batch_size"], run.data.params["run.cuts"]) == ("16", cuts)
        assert run.data.params["run.metric"] == "val_acc"
        assert run.data.tags["device"] == "cpu" and run.data.tags["device_name"]  # where it ran
        assert len(run.data.tags["host"]) == 8 and run.data.tags["cpu_capability"] and run.data.tags["torch_version"]
        c = MlflowClient(f"sqlite:///{d / 'mlflow.db'}")
        hist = c.get_metric_history(run.info.run_id, "val_acc")
        assert sorted(m.step for m in hist) == [1, 2]  # per-epoch metrics as steps
        last = max(hist, key=lambda m: m.step).value
        by_cfg.setdefault(run.data.tags["config_id"], []).append(last)
    assert len(by_cfg) == 2 and all(len(v) == 2 for v in by_cfg.values())

    every = len(all_runs(d, "s1"))  # the trials and the sweep's one summary run
    assert every == 7 and len([r for r in all_runs(d, "s1") if "compsweep.summary" in r.data.tags]) == 1
    check_parents(d, "s1", {})  # 4 runs, a summary run and a parent per config
    rep = cli(d, "report", "--name", "s1", "--format", "json")
    assert rep.returncode == 0, rep.stderr
    for _ in range(2):
        assert cli(d, "report", "--name", "s1").returncode == 0
    assert len(all_runs(d, "s1")) == every  # reading writes nothing
    for rec in json.loads(rep.stdout):  # typed: numbers are numbers, a missing value is null
        for k in ("bits", "n", "val_acc_mean", "bytes_fwd", "ratio", "batch_size", "cuts"):
            assert isinstance(rec[k], (int, float)) and not isinstance(rec[k], bool), (k, rec[k])
        assert rec["split_bits"] is None or isinstance(rec["split_bits"], int)
        assert "" not in rec.values()
    records = {rec["config_id"]: rec for rec in json.loads(rep.stdout)}
    for cid, values in by_cfg.items():
        assert records[cid]["n"] == 2
        assert records[cid]["val_acc_mean"] == pytest.approx(statistics.mean(values))
        assert records[cid]["val_acc_std"] == pytest.approx(statistics.stdev(values))
    # the link model and the front, on every row, matching the formula
    linked = json.loads(cli(d, "report", "--name", "s1", "--link", "100mbit", "--format", "json").stdout)
    computes = {rec["compute_s"] for rec in linked}
    assert len(computes) == 1  # one setting (task, model, batch, machine): one compute per step
    for rec in linked:  # the trials ran 2 epochs: run-average bytes and a curve with the final value
        assert rec["bytes_fwd_run"] >= rec["bytes_fwd"] and rec["bytes_run"] == pytest.approx(
            rec["bytes_fwd_run"] + rec["bytes_bwd_run"]
        )
        wire = rec["bytes_run"] * rec["batch_size"] * 8 / 100e6
        assert rec["est_batch_s_100mbit"] == pytest.approx(rec["compute_s"] + rec["compress_s"] + wire)
        assert rec["est_batch_s_overlap_100mbit"] == pytest.approx(max(rec["compute_s"] + rec["compress_s"], wire))
        assert rec["reached"] is None and "tta_s_100mbit" in rec  # no `none` row here: no target
        assert rec["batch_size"] == 16 and "pareto" in rec and "speedup_100mbit" in rec
        assert rec["cuts"] == len(rec["placement"].split(","))
    vs = cli(d, "report", "--name", "s1", "--link", "100mbit", "--vs", "uniform:b=8", "--format", "json").stdout
    own = next(rec for rec in json.loads(vs) if rec["fwd"] == "uniform:b=8")  # its own target: reached, 1x
    assert own["reached"] == "2/2" and own["tta_speedup_100mbit"] == pytest.approx(1.0)
    budget = json.loads(cli(d, "best", "--name", "s1", "--max-ratio", "0.2", "--format", "json").stdout)
    assert budget and all(rec["ratio"] <= 0.2 for rec in budget)
    strict = cli(d, "best", "--name", "s1", "--max-ratio", "0.0001")  # nothing fits: it says why
    assert strict.returncode == 0 and "2 configs with a val_acc; 0 within --max-ratio 0.0001" in strict.stdout
    assert "loosen --max-ratio" in strict.stdout
    assert {r["config_id"] for r in budget} < {r["config_id"] for r in linked}
    md = cli(d, "report", "--name", "s1", "--plot", str(d / "p.png"))
    assert md.returncode == 0 and "| placement |" in md.stdout and (d / "p.png").stat().st_size > 10_000

    best = cli(d, "best", "--name", "s1", "--metric", "val_acc", "--top", "1", "--format", "json")
    top = json.loads(best.stdout)
    assert len(top) == 1
    assert top[0]["val_acc_mean"] == max(statistics.mean(v) for v in by_cfg.values())

    rr = cli(d, "rerun", "--name", "s1", "--top", "1", "--seeds", "3")
    assert rr.returncode == 0, rr.stdout + rr.stderr
    done = runs(d, "s1")
    assert len(done) == 5
    pairs = Counter((r.data.tags["config_id"], r.data.tags["seed"]) for r in done)
    assert max(pairs.values()) == 1  # no duplicated run
    after = {
        rec["config_id"]: rec["n"] for rec in json.loads(cli(d, "report", "--name", "s1", "--format", "json").stdout)
    }
    assert after[top[0]["config_id"]] == 3
    assert len([r for r in all_runs(d, "s1") if "compsweep.summary" in r.data.tags]) == 1  # updated in place
    again = cli(d, "rerun", "--name", "s1", "--top", "1", "--seeds", "3")
    assert "already have seeds" in again.stdout and len(runs(d, "s1")) == 5
    check_parents(d, "s1", {top[0]["config_id"]: 3})
    check_parents_over_rest(d, "s1")


def parent_runs(d: Path, name: str) -> dict:
    return {r.data.tags["config_id"]: r for r in all_runs(d, name) if r.data.tags.get("compsweep.parent") == "true"}


def check_parents(d: Path, name: str, n_seeds: dict):
    """One parent per config, holding the report's seed statistics; every seed's run its child."""
    parents = parent_runs(d, name)
    recs = json.loads(cli(d, "report", "--name", name, "--format", "json").stdout)
    assert set(parents) == {rec["config_id"] for rec in recs}
    for rec in recs:
        m = parents[rec["config_id"]].data.metrics
        assert m["mean_val_acc"] == pytest.approx(rec["val_acc_mean"]) and m["n_seeds"] == rec["n"]
        assert m["std_val_acc"] == pytest.approx(rec["val_acc_std"])
        assert parents[rec["config_id"]].info.status == "FINISHED"
    for cid, n in n_seeds.items():
        assert parents[cid].data.metrics["n_seeds"] == n
    for r in runs(d, name):
        assert r.data.tags["mlflow.parentRunId"] == parents[r.data.tags["config_id"]].info.run_id


def check_parents_over_rest(d: Path, name: str):
    """The same parents as a real `mlflow server` serves them over its REST API."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mlflow = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/experiments/get-by-name?experiment_name={name}") as r:
            exp_id = json.load(r)["experiment"]["experiment_id"]
        body = {"experiment_ids": [exp_id], "filter": "tags.`compsweep.parent` = 'true'", "max_results": 100}
        req = urllib.request.Request(
            f"{base}/runs/search", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req) as r:
            served = json.load(r)["runs"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    local = parent_runs(d, name)
    assert len(served) == len(local)
    for run in served:
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["mean_val_acc"] == pytest.approx(local[tags["config_id"]].data.metrics["mean_val_acc"])


@pytest.mark.slow
def test_failing_trial_is_failed_and_others_finish(env):
    d, root = env
    rows = [ROWS[0], {**ROWS[0], "lr": -1.0}]  # the second raises inside the trial
    r = cli(d, "run", "--space", space_file(d, rows), "--root", str(root), "--seeds", "1", "--name", "f1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 finished, 1 failed" in r.stdout
    failed = runs(d, "f1", "FAILED")
    assert len(failed) == 1 and failed[0].data.params["lr"] == "-1.0"
    assert "Invalid learning rate" in failed[0].data.tags["error"]
    assert len(runs(d, "f1")) == 1
    rep = cli(d, "report", "--name", "f1")
    assert "Failed trials (1" in rep.stdout
    # rerun --failed: exactly the failed (config, seed) again (it fails again: lr=-1 is deterministic)
    cid = failed[0].data.tags["config_id"]
    dry = cli(d, "rerun", "--name", "f1", "--failed", "--dry-run")
    assert dry.returncode == 0 and f"  {cid} seed=0 " in dry.stdout and "dry run: 1 trials" in dry.stdout, dry.stdout
    again = cli(d, "rerun", "--name", "f1", "--failed")
    assert again.returncode == 1 and "rerun: 1 trials again" in again.stdout, again.stdout + again.stderr
    assert len(runs(d, "f1", "FAILED")) == 2 and len(runs(d, "f1")) == 1
    assert {r.data.tags["config_id"] for r in runs(d, "f1", "FAILED")} == {cid}
    none = cli(d, "rerun", "--name", "f1", "--killed")
    assert none.returncode == 0 and "whose latest run is KILLED" in none.stdout


@pytest.mark.slow
def test_resume_after_sigint_runs_each_trial_once(env):
    d, root = env
    training = {**TRAINING, "epochs": 6, "limit_train": 64}
    rows = [{"fwd": f"uniform:b={b}", "placement": "first:1"} for b in (4, 6, 8)]
    space = space_file(d, rows, training)
    uri = f"sqlite:///{d / 'mlflow.db'}"
    cmd = [
        sys.executable,
        str(REPO / "sweep.py"),
        "run",
        "--space",
        space,
        "--root",
        str(root),
        "--seeds",
        "1",
        "--name",
        "r1",
        "--tracking-uri",
        uri,
        "--storage",
        str(d / "ray"),
        "--max-concurrent",
        "1",
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=_env())
    lines = []
    for line in p.stdout:  # interrupt once the first trial is done and the second is underway
        lines.append(line)
        if line.startswith("[1/3] done"):
            time.sleep(2)
            p.send_signal(signal.SIGINT)
            break
    out = "".join(lines) + p.communicate(timeout=300)[0]
    assert p.returncode == 130, out
    assert "--resume" in out
    assert len(runs(d, "r1")) < 3
    r = cli(
        d,
        "run",
        "--space",
        space,
        "--root",
        str(root),
        "--seeds",
        "1",
        "--name",
        "r1",
        "--max-concurrent",
        "1",
        "--resume",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    done = runs(d, "r1")
    assert len(done) == 3
    assert len({r.data.tags["trial_id"] for r in done}) == 3
    assert len(runs(d, "r1", status=None)) == 3  # no second run for a resumed trial


@pytest.mark.parametrize(
    "args,msg",
    [
        (["run", "--space", "nope", "--seeds", "1"], "unknown"),
        (["run", "--space", "demo", "--task", "imagenet"], "--task 'imagenet'"),
        (["run", "--space", "demo", "--seeds", "0"], "--seeds 0"),
        (["run", "--space", "demo", "--metric", "val_nope"], "--metric 'val_nope'"),
        (["run", "--space", "demo", "--metric", "val_f1"], "only measured on mrpc"),
        (["run", "--space", "demo", "--task", "rte", "--root", "/nonexistent"], "/nonexistent"),
        (["run", "--space", "demo", "--task", "rotten_tomatoes", "--model-dir", "/nonexistent"], "model_dir"),
        (["report", "--name", "never-made"], "no MLflow store at"),  # a read creates no store
        (["best", "--name", "never-made"], "no MLflow store at"),
    ],
)
def test_bad_input_exits_2_before_ray_and_mlflow(tmp_path, args, msg):
    r = cli(tmp_path, *args, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    if args[0] in ("report", "best"):
        assert not (tmp_path / "mlflow.db").exists()  # a read made no store
    assert runs(tmp_path, "compsweep", status=None) == []
    assert not (tmp_path / "ray").exists()


def test_bad_spec_inside_a_space_exits_2(tmp_path):
    bad = space_file(tmp_path, [{"fwd": "uniform:b=40", "placement": "first:1"}])
    r = cli(tmp_path, "run", "--space", bad, "--seeds", "1")
    assert r.returncode == 2 and "b=40" in r.stderr


@pytest.mark.slow
def test_explore_optuna_with_asha(env):
    """Optuna samples valid specs; ASHA (grace 1 epoch, factor 2) stops a trial whose epoch-1
    metric is below the median of the trials that reached epoch 1 before it, and only those."""
    import numpy as np

    import compression

    d, root = env
    r = cli(
        d, "run", "--space", "explore", "--root", str(root), "--num-samples", "12", "--seeds", "1", "--name", "x1",
        "--asha", "--max-concurrent", "1", "--model", "mobilenet_v2", "--epochs", "2", "--limit-train", "32",
        "--limit-val", "16", "--batch-size", "16",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    done = sorted(runs(d, "x1", status=None), key=lambda x: x.info.start_time)
    assert len(done) == 12 and all(x.data.tags["space"] == "explore" for x in done)
    c = MlflowClient(f"sqlite:///{d / 'mlflow.db'}")
    seen = []
    for x in done:  # one trial at a time: the rung's records are the earlier trials' epoch-1 values
        spec = compression.parse_spec(x.data.params["fwd"])  # every sampled spec is valid, recorded with its method
        assert x.data.tags["method"] == spec.method and x.data.params["seed"] == "0"
        first = next(m.value for m in c.get_metric_history(x.info.run_id, "val_acc") if m.step == 1)
        stop = bool(seen) and first < np.nanpercentile(seen, 50)
        seen.append(first)
        assert x.data.tags["stopped_early"] == ("true" if stop else "false"), (seen, x.data.tags)
        assert x.data.tags["epochs_reached"] == ("1" if stop else "2")
    plots = cli(
        d,
        "report",
        "--name",
        "x1",
        "--include-stopped",
        "--metric",
        "train_loss",
        "--plot-parallel",
        str(d / "par.png"),
        "--plot-importance",
        str(d / "imp.png"),
    )  # fmt: skip (train_loss: 16 validation images give too few distinct accuracies to attribute)
    assert plots.returncode == 0, plots.stderr
    assert (d / "par.png").stat().st_size > 10_000 and (d / "imp.png").stat().st_size > 10_000
    assert "importance plot written" in plots.stderr and "method" in plots.stderr


@pytest.mark.slow
def test_long_and_short_form_of_a_spec_are_one_config(env):
    d, root = env
    rows = [{"fwd": "uniform:b=8", "placement": "first:1"},
            {"fwd": "uniform:b=8,range=minmax,round=nearest", "placement": "first:1"}]  # fmt: skip
    training = {**TRAINING, "epochs": 1}
    r = cli(d, "run", "--space", space_file(d, rows, training), "--root", str(root), "--seeds", "1", "--name", "c1")
    assert r.returncode == 0, r.stdout + r.stderr
    done = runs(d, "c1")
    assert len(done) == 2 and len({x.data.tags["config_id"] for x in done}) == 1


def test_experiments_open_on_the_runs_table(tmp_path, monkeypatch):
    """MLflow 3 shows an experiment without a kind as a GenAI overview; ours are model training."""
    from schema.store import experiment_id

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id(uri, "kind")
    monkeypatch.setenv("_MLFLOW_SERVER_FILE_STORE", uri)
    from mlflow.server import app

    r = app.test_client().get("/api/2.0/mlflow/experiments/get-by-name", query_string={"experiment_name": "kind"})
    assert r.status_code == 200, r.data
    tags = {t["key"]: t["value"] for t in r.get_json()["experiment"]["tags"]}
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    # the seed statistics view a newcomer reaches from the experiment's description
    exp = r.get_json()["experiment"]["experiment_id"]
    view = json.loads(tags["mlflow.sharedViewState.compsweep"])
    assert view["selectedColumns"][:3] == ["metrics.`mean_val_acc`", "metrics.`std_val_acc`", "metrics.`n_seeds`"]
    assert view["searchFilter"] == "tags.`compsweep.parent` = 'true'" and view["orderByKey"] == "metrics.`mean_val_acc`"
    assert f"(#/experiments/{exp}/runs?viewStateShareKey=compsweep)" in tags["mlflow.note.content"]


@pytest.mark.slow
def test_multi_objective_optuna_marks_the_front(env):
    d, root = env
    r = cli(
        d, "run", "--space", "explore", "--objectives", "val_acc:max,ratio:min", "--num-samples", "3",
        "--seeds", "1", "--name", "mo", "--root", str(root), "--model", "mobilenet_v2", "--epochs", "1",
        "--limit-train", "32", "--limit-val", "16", "--batch-size", "16",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "multi-objective" in r.stdout
    assert len(runs(d, "mo")) == 3
    rep = json.loads(cli(d, "report", "--name", "mo", "--format", "json").stdout)
    assert not any(x["pareto"] for x in rep if x["at_floor"])  # a floor is not a trade-off
    alive = [x for x in rep if not x["at_floor"]]  # one seed each: an exploration keeps its front
    if alive:  # the cheapest of the most accurate is always on it
        top = max(x["val_acc_mean"] for x in alive)
        best = min((x for x in alive if x["val_acc_mean"] == top), key=lambda x: x["bytes_run"])
        assert best["pareto"]
    for x in rep:  # and nothing on the front is dominated
        if x["pareto"]:
            assert not any(y["val_acc_mean"] >= x["val_acc_mean"] and y["bytes_run"] < x["bytes_run"] for y in alive)


@pytest.mark.slow
def test_lost_worker_resumes_from_its_checkpoint_in_the_same_run(env):
    """SIGKILL the process running a trial mid-trial: with --retries the trial resumes from its
    last epoch checkpoint, in the same MLflow run, each epoch logged once."""
    import os

    import psutil

    d, root = env
    training = {**TRAINING, "epochs": 8, "limit_train": 96}  # long enough to be caught mid-trial
    space = space_file(d, [{"fwd": "uniform:b=6", "placement": "first:1"}], training)
    uri = f"sqlite:///{d / 'mlflow.db'}"
    cmd = [sys.executable, str(REPO / "sweep.py"), "run", "--space", space, "--root", str(root), "--seeds", "1",
           "--name", "lost", "--tracking-uri", uri, "--storage", str(d / "ray"), "--retries", "1"]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=_env())
    c = MlflowClient(uri)
    killed = None
    deadline = time.time() + 240
    while killed is None and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
        exp = c.get_experiment_by_name("lost")
        found = c.search_runs([exp.experiment_id]) if exp else []
        if found and c.get_metric_history(found[0].info.run_id, "epoch"):
            workers = [
                q for q in psutil.Process(p.pid).children(recursive=True)
                if "ImplicitFunc" in " ".join(q.cmdline()) or "tune_trainable" in " ".join(q.cmdline())
            ]  # fmt: skip
            if workers:
                killed = workers[0].pid
                os.kill(killed, signal.SIGKILL)
    out = p.communicate(timeout=300)[0]
    assert killed is not None, out
    assert p.returncode == 0, out
    done = runs(d, "lost", status=None)
    assert len(done) == 1 and done[0].info.status == "FINISHED"
    epochs = [int(m.value) for m in c.get_metric_history(done[0].info.run_id, "epoch")]
    assert sorted(epochs) == list(range(1, 9))  # each epoch once: the epochs before the kill were not redone


@pytest.mark.slow
def test_tiny_beyond_sweep(env):
    """The beyond space end to end (AQ-SGD delta, absmax, clip, stochastic, k-means...) on tiny data."""
    d, root = env
    r = cli(
        d, "run", "--space", "beyond", "--root", str(root), "--seeds", "1", "--name", "by", "--model",
        "mobilenet_v2", "--epochs", "2", "--limit-train", "32", "--limit-val", "16", "--batch-size", "16",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    done = runs(d, "by")
    assert len(done) == 24
    rep = {(x["fwd"], x["bwd"]): x for x in json.loads(cli(d, "report", "--name", "by", "--format", "json").stdout)}
    import compression

    aq = rep[("delta:b=3", str(compression.parse_spec("uniform:b=6,range=absmax,round=stochastic")))]
    assert aq["buffer_mb"] > 0 and aq["n"] == 1
    assert rep[("none", "none")]["ratio"] == pytest.approx(1.0, abs=1e-3)  # fp32 both ways, headers aside
    assert rep[("uniform:b=3", "uniform:b=8,round=stochastic")]["ratio"] == pytest.approx((3 + 8) / 64, rel=0.05)
