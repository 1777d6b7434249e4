"""A not-run sweep's time from a recorded step (bench --step --setting SPACE --record FILE; the
results page's estimate): the record, the arithmetic, and bad input in one line."""

import json
from pathlib import Path

from reports import estimate
from tests.test_cli import run


def _write(path: Path, *records: dict) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_estimate_is_steps_times_the_latest_step_on_that_device(tmp_path: Path):
    old = {"space": "s", "device": "cuda", "device_name": "GPU A", "step_s": 9.0, "precision": "fp32"}
    old["date"] = "2026-01-01"
    new = {**old, "device_name": "GPU B", "step_s": 0.36, "date": "2026-02-01", "commit": "abc1234"}
    cpu = {**old, "device": "cpu", "device_name": "a CPU", "step_s": 30.0, "date": "2026-03-01"}
    _write(tmp_path / estimate.FILE, old, new, cpu, {**new, "space": "other", "date": "2026-04-01"})
    text = estimate.sweep_time(tmp_path, "s", 38_610)
    assert text.startswith("about 3.9 h of GPU B time")  # 38,610 x 0.36 s = 13,899.6 s
    assert "commit abc1234" in text
    assert estimate.sweep_time(tmp_path, "s", 360, "cpu").startswith("about 3.0 h of a CPU time")
    missing = estimate.sweep_time(tmp_path, "nothing", 100)
    assert "not estimated" in missing and "--setting nothing --device cuda --record" in missing


def test_bench_records_a_spaces_step_where_it_ran(tmp_path: Path):
    out = tmp_path / "steps.jsonl"
    r = run("bench", "--step", "--quick", "--setting", "collapse", "--record", str(out))
    assert r.returncode == 0, r.stderr
    assert "CV efficientnet_lite0, 64 px, batch 64" in r.stdout  # the collapse space's setting
    (rec,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["space"] == "collapse" and rec["device"] == "cpu" and rec["precision"] == "fp32"
    assert 0 < rec["step_s"] < 60 and len(rec["host"]) == 8
    assert estimate.latest(tmp_path, "collapse", "cpu") == rec and estimate.latest(tmp_path, "collapse", "cuda") is None


def test_bench_setting_and_record_refuse_bad_input_in_one_line(tmp_path: Path):
    bad = ((["--setting", "no-such-space"], "not a space"), (["--record", str(tmp_path / "x")], "--setting"))
    for args, says in bad:
        r = run("bench", "--step", "--quick", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and says in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()
