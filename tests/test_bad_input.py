"""Every malformed input exits 2 with one line naming what is wrong, before Ray starts and
without writing anything: specs, placements, paths, data files, weights, spaces, flags, names."""

import gzip
import json

import pytest
import torch

import sweep
from tests.helpers import write_fashion_mnist, write_glue


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    fm = write_fashion_mnist(d / "fm")
    glue = write_glue(d / "glue", n=8)
    # GLUE variants: CoLA with two columns, RTE with an unknown label, an empty RTE file
    cola2 = write_glue(d / "cola2", n=8)
    (cola2 / "CoLA" / "train.tsv").write_text("src\t1\nsrc\t0\n")
    rte_bad = write_glue(d / "rte_bad", n=8)
    text = (rte_bad / "RTE" / "train.tsv").read_text().replace("not_entailment", "contradiction", 1)
    (rte_bad / "RTE" / "train.tsv").write_text(text)
    rte_empty = write_glue(d / "rte_empty", n=8)
    (rte_empty / "RTE" / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n")
    cola_lab = write_glue(d / "cola_lab", n=8)
    (cola_lab / "CoLA" / "train.tsv").write_text("src\tyes\t\tthe cat sat\n")
    # Fashion-MNIST with labels that do not match the images, and a file that is not gzip
    fm_bad = write_fashion_mnist(d / "fm_bad")
    with gzip.open(fm_bad / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\0" * 8 + bytes(5))
    fm_garbage = write_fashion_mnist(d / "fm_garbage")
    (fm_garbage / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    # weights: garbage bytes, a state dict of another model, a state dict of non-tensors
    (d / "garbage.pth").write_bytes(b"\x00garbage")
    torch.save({"conv.weight": torch.zeros(3)}, d / "other.pth")
    torch.save({"a": 1}, d / "notensors.pth")
    (d / "model_dir").mkdir()
    # CIFAR-10: --root at the batches folder itself, and batches that fail torchvision's MD5 check
    batches = d / "cifar" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (batches / name).write_bytes(b"not the official batch")
    # spaces
    (d / "empty.json").write_text(json.dumps({"rows": []}))
    (d / "notjson.json").write_text("{rows: oops")
    (d / "nofwd.json").write_text(json.dumps({"rows": [{"placement": "first:1"}]}))
    (d / "badspec.json").write_text(json.dumps({"rows": [{"fwd": "uniform:b=99"}]}))
    (d / "blankfwd.json").write_text(json.dumps({"rows": [{"fwd": ""}]}))
    (d / "blankcut.json").write_text(json.dumps({"rows": [{"fwd": "none", "placement": ""}]}))
    mrpc_bad = write_glue(d / "mrpc_bad", n=8)
    text = (mrpc_bad / "MRPC" / "dev.tsv").read_text().splitlines()
    (mrpc_bad / "MRPC" / "dev.tsv").write_text("\n".join([text[0].replace("Quality", "quality"), *text[1:]]) + "\n")
    return d, fm, glue


def cases(d, fm, glue):
    cv = ["run", "--space", "demo", "--root", str(fm), "--seeds", "1"]
    rows = []
    # specs
    for spec, msg in [
        ("", "--fwd ''"),
        ("uniform", "missing required field 'b'"),
        ("uniform:b=0", "b=0"),
        ("uniform:b=17", "b=17"),
        ("uniform:b=x", "b=x"),
        ("uniform:b=8,b=4", "given twice"),
        ("uniform:q=1", "unknown field 'q'"),
        ("nope:b=1", "method='nope'"),
        ("topk:r=0", "r=0"),
        ("topk:r=2", "r=2"),
        ("kmeans:b=9", "b=9"),
        ("sortquant:b=12,s=6", "at most 16 bits"),
        ("uniform:b=1,range=absmax", "range=absmax needs b >= 2"),
        ("uniform:b=8,clip=40", "clip=40"),
        ("uniform:b=8,group=channel,clip=99", "needs group=tensor"),
        ("uniform:b=8,range=zero", "range=zero"),
        ("mask", "backward spec only"),
        ("uniform:b=8,", "key=value"),
        ("delta:b=1", "b=1"),
    ]:
        rows.append((["single", "--task", "fashion_mnist", "--root", str(fm), "--fwd", spec], msg))
    rows += [
        (
            ["single", "--task", "fashion_mnist", "--root", str(fm), "--fwd", "none", "--bwd", "delta:b=3"],
            "forward only",
        ),
        (["single", "--task", "fashion_mnist", "--root", str(fm), "--bwd", ""], "--bwd ''"),
        (["single", "--task", "fashion_mnist", "--root", str(fm), "--fwd", "uniform:b=8", "--bwd", "mask"], "mask"),
        (["single", "--task", "nope"], "--task 'nope'"),
        (["single", "--task", "fashion_mnist", "--root", str(fm), "--placement", ""], "placement=''"),
        (["single", "--task", "sst2", "--root", str(fm)], "SST-2/train.tsv"),
        (["single", "--task", "fashion_mnist", "--quant", "8", "--prune", "0.5"], "--prune cannot be combined"),
        (["single", "--task", "fashion_mnist", "--root", str(fm), "--eval-every", "0"], "eval_every=0"),
        (["single", "--task", "rotten_tomatoes", "--recipe", "finetune"], "recipe='finetune': a CV setting"),
        (["run", "--space", "demo", "--name", "x", "--eval-every", "-3", "--dry-run"], "eval_every=-3"),
        (["link-check", "--family", "gpu"], "--family 'gpu'"),
        (["link-check", "--link", "fast"], "--link 'fast'"),
        (["link-check", "--method", "uniform:b=99"], "b=99"),
        (["link-check", "--method", "none bwd=topk:r=2"], "r=2"),
        (["link-check", "--schedule", "1f1b", "--microbatches", "3"], "does not split evenly"),
        (["link-check", "--netns", "2"], "--netns 2: cv's placement has 3 stages"),
        (["link-check", "--netns", "1", "--placement", "first:4"], "--netns 1"),
        (["link-check", "--placement", "first:99"], "--placement 'first:99'"),
    ]
    # placements
    for placement, msg in [
        ("first:0", "out of range"),
        ("first:99", "out of range"),
        ("middle:1", "not understood"),
        ("first:1,first:2", "not understood"),
        ("after:nope", "no module 'nope'"),
        ("first:10,last:10", "overlap"),
    ]:
        rows.append((["single", "--task", "fashion_mnist", "--root", str(fm), "--placement", placement], msg))
    # paths and data files
    rows += [
        ([*cv[:3], "--root", "/nonexistent", "--seeds", "1"], "/nonexistent"),
        (["run", "--space", "demo", "--task", "cifar10", "--seeds", "1"], "cifar-10-batches-py"),
        (["run", "--space", "demo", "--task", "cifar10", "--root", str(d / "cifar" / "cifar-10-batches-py"),
          "--seeds", "1"], f"pass the folder that holds it (--root {d / 'cifar'})"),
        (["run", "--space", "demo", "--task", "cifar10", "--root", str(d / "cifar"), "--seeds", "1"],
         "fails torchvision's MD5 check"),
        ([*cv, "--weights", "/nonexistent.pth"], "no such file"),
        ([*cv, "--model", "mobilenet_v2", "--weights", str(d / "garbage.pth")], "not a PyTorch state dict"),
        ([*cv, "--model", "mobilenet_v2", "--weights", str(d / "other.pth")], "not a mobilenet_v2 state dict"),
        ([*cv, "--model", "mobilenet_v2", "--weights", str(d / "notensors.pth")], "not a state dict of tensors"),
        ([*cv, "--model", "mobilenet_v2", "--weights", "imagenet"], "not downloaded"),
        ([*cv, "--weights", str(d / "other.pth")], "not a efficientnet_lite0 state dict"),
        (["run", "--space", "demo", "--root", str(d / "fm_bad"), "--seeds", "1"], "must match"),
        (["run", "--space", "demo", "--root", str(d / "fm_garbage"), "--seeds", "1"], "not readable"),
        (["run", "--space", "seed-nlp", "--task", "cola", "--root", str(d / "cola2"), "--seeds", "1"], "2 columns"),
        (["run", "--space", "seed-nlp", "--task", "cola", "--root", str(d / "cola_lab"), "--seeds", "1"], "'yes'"),
        (
            ["run", "--space", "seed-nlp", "--task", "rte", "--root", str(d / "rte_bad"), "--seeds", "1"],
            "contradiction",
        ),
        (
            ["run", "--space", "seed-nlp", "--task", "rte", "--root", str(d / "rte_empty"), "--seeds", "1"],
            "no examples",
        ),
        (
            ["run", "--space", "seed-nlp", "--task", "rte", "--root", str(glue), "--model-dir", "/nonexistent"],
            "model_dir",
        ),
        (["run", "--space", "seed-nlp", "--model-dir", str(d / "model_dir")], "no config.json"),
        (
            ["run", "--space", "seed-nlp", "--task", "mrpc", "--root", str(d / "mrpc_bad"), "--seeds", "1"],
            "no column Quality",
        ),
    ]
    # spaces
    rows += [
        (["run", "--space", "nope", "--seeds", "1"], "unknown"),
        (["run", "--space", str(d / "missing.json")], "no such file"),
        (["run", "--space", str(d / "empty.json")], "no rows"),
        (["run", "--space", str(d / "notjson.json")], "not a space file"),
        (["run", "--space", str(d / "nofwd.json")], "missing 'fwd'"),
        (["run", "--space", str(d / "badspec.json")], "b=99"),
        (["run", "--space", str(d / "blankfwd.json")], "non-empty spec"),
        (["run", "--space", str(d / "blankcut.json"), "--root", str(fm), "--seeds", "1"], "placement=''"),
    ]
    # flags and names
    rows += [
        ([*cv[:3], "--seeds", "0"], "--seeds 0"),
        (["run", "--space", "explore", "--num-samples", "0"], "--num-samples 0"),
        (["run", "--space", "explore", "--objectives", "val_acc:max"], "at least two"),
        (["run", "--space", "explore", "--objectives", "val_acc:up,ratio:min"], "val_acc:up"),
        (["run", "--space", "demo", "--objectives", "val_acc:max,ratio:min"], "needs an Optuna space"),
        (["run", "--space", "explore", "--objectives", "val_acc:max,ratio:min", "--asha"], "--asha"),
        ([*cv, "--metric", "val_nope"], "--metric 'val_nope'"),
        ([*cv, "--metric", "val_f1"], "only measured on mrpc"),
        ([*cv, "--metric", "val_mcc"], "only measured on cola"),
        ([*cv, "--retries", "-1"], "--retries -1"),
        ([*cv, "--cpus-per-trial", "0"], "--cpus-per-trial 0"),
        ([*cv, "--max-concurrent", "0"], "--max-concurrent 0"),
        ([*cv[:5], "--name", ""], "--name ''"),
        ([*cv[:5], "--name", "a/b"], "--name 'a/b'"),
        (["report", "--name", "never-made"], "no such MLflow experiment"),
        (["best", "--name", "never-made"], "no such MLflow experiment"),
        (["rerun", "--name", "never-made", "--seeds", "3"], "no such MLflow experiment"),
        (["rerun", "--name", "never-made", "--seeds", "0"], "--seeds 0"),
        ([*cv, "--done-from", str(d / "notjson.json")], "--done-from"),
    ]
    return rows


def test_at_least_forty_malformed_inputs_exit_2_with_one_line(files, tmp_path, capsys):
    import ray

    d, fm, glue = files
    table = cases(d, fm, glue)
    assert len(table) >= 40
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    from schema.store import client

    client(uri).search_experiments()  # the store exists (reading commands refuse a missing one)
    bad = []
    for args, msg in table:
        extra = ["--tracking-uri", uri] if args[0] in ("run", "rerun", "report", "best") else []
        if args[0] in ("run", "rerun"):
            extra += ["--storage", str(tmp_path / "ray")]
        capsys.readouterr()
        rc = sweep.main([*args, *extra])
        err = capsys.readouterr().err.strip()
        if rc != 2 or len(err.splitlines()) != 1 or msg not in err or "Traceback" in err:
            bad.append((args, msg, rc, err[-300:]))
    assert not bad, "\n".join(map(str, bad))
    assert not ray.is_initialized()
    assert not (tmp_path / "ray").exists()


def test_a_read_refuses_a_store_that_is_not_there_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "dir" / "mlflow.db"
    for cmd in (["report", "--name", "x"], ["best", "--name", "x"], ["rerun", "--name", "x", "--seeds", "3"]):
        capsys.readouterr()
        assert sweep.main([*cmd, "--tracking-uri", f"sqlite:///{missing}"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"no MLflow store at {missing}" in err, err
        assert sweep.main([*cmd, "--tracking-uri", str(tmp_path / "mlruns")]) == 2  # a plain path, no store there
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "a plain path with no MLflow store" in err and "Traceback" not in err
    assert not (tmp_path / "no").exists() and not (tmp_path / "mlruns").exists()
    # a plain path that holds a store is read as that store
    from schema.store import client, existing

    (tmp_path / "mlruns").mkdir()
    client(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}").search_experiments()
    assert existing(str(tmp_path / "mlruns")) == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert sweep.main(["report", "--name", "x", "--tracking-uri", str(tmp_path / "mlruns")]) == 2
    assert "no such MLflow experiment" in capsys.readouterr().err


def test_a_tiny_validation_split_is_noted(tmp_path, capsys):
    from tests.helpers import write_glue
    from trainables.check import _check_data

    root = write_glue(tmp_path / "glue", n=1)
    _check_data.cache_clear()
    _check_data("rte", str(root))
    out = capsys.readouterr().out
    assert "note: rte: the validation split has 1 example(s); every score moves in steps of 1" in out
