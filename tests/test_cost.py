"""The cost model and time to accuracy on run tables made here (known answers): compute per
setting is a median that one slow seed cannot move, run-average bytes feed the wire time, the
overlap bound, and steps / time to target with the speed-up's CI."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from reports import table
from reports.link import parse_links
from reports.schedule import step_s
from tests.test_results import run_rows

LINKS = parse_links("100mbit,1gbit+5ms")


def five_seeds(fwd_values: dict) -> dict:
    return {(f, "none" if f == "none" else f): [(s, v) for s, v in enumerate(vals)] for f, vals in fwd_values.items()}


def noisy_store():
    df = run_rows(five_seeds({"none": [0.7] * 5, "uniform:b=8": [0.69] * 5, "topk:r=0.2": [0.6] * 5}))
    rng = np.random.default_rng(0)
    df["step_time"] = 0.2 + rng.uniform(-0.02, 0.02, len(df))
    df["compress_time"] = np.where(df["fwd"] == "none", 0.0, 0.01)
    return df


def test_one_slow_seed_moves_no_speedup_by_more_than_5_percent():
    df = noisy_store()
    before = table.build(df, "val_acc", links=LINKS).summary.set_index("fwd")
    slow = df.copy()
    slow.loc[(slow["fwd"] == "none") & (slow["seed"] == 4), "step_time"] *= 10
    after = table.build(slow, "val_acc", links=LINKS).summary.set_index("fwd")
    for col in ("speedup_100mbit", "speedup_1gbit_5ms"):
        assert np.allclose(after[col], before[col], rtol=0.05), col
    assert after.loc["none", "step_time"] > 2 * before.loc["none", "step_time"]  # the row's own time shows it


def test_estimates_follow_the_formula_from_run_average_bytes():
    df = noisy_store()
    df["bytes_fwd_run"] = df["bytes_fwd"] * 2  # e.g. AQ-SGD: more on average than in the last epoch
    df["bytes_bwd_run"] = df["bytes_bwd"]
    s = table.build(df, "val_acc", links=LINKS).summary.set_index("fwd")
    compute = float(np.median(df["step_time"] - df["compress_time"]))
    for fwd in ("none", "uniform:b=8"):
        r = s.loc[fwd]
        assert r["compute_s"] == pytest.approx(compute)
        wire = (2 * r["bytes_fwd"] + r["bytes_bwd"]) * 64 * 8 / 100e6
        assert r["est_batch_s_100mbit"] == pytest.approx(compute + r["compress_s"] + wire)
        assert r["est_batch_s_overlap_100mbit"] == pytest.approx(max(compute + r["compress_s"], wire))
        c, share = (compute + r["compress_s"]) / (3 * 4), 2 * r["bytes_fwd"] / (2 * r["bytes_fwd"] + r["bytes_bwd"])
        wf, wb = wire / 8 * share, wire / 8 * (1 - share)  # 4 micro-batches, 2 cuts: one micro-batch at one cut
        played = step_s("1f1b", [c / 3] * 3, [2 * c / 3] * 3, [0.0] * 3, [wf] * 2, [wb] * 2, 0.0, 4)  # bwd = 2 fwd
        assert r["est_batch_s_1f1b_100mbit"] == pytest.approx(played)
        assert 4 * max(c, wf, wb) <= played <= 4 * (3 * c + 2 * (wf + wb))  # between the bounds
        wire_g = (2 * r["bytes_fwd"] + r["bytes_bwd"]) * 64 * 8 / 1e9
        assert r["est_batch_s_1gbit_5ms"] == pytest.approx(compute + r["compress_s"] + wire_g + 2 * 0.005 * 2)
    older = table.build(noisy_store(), "val_acc", links=LINKS).summary.set_index("fwd")  # no run averages
    assert older.loc["none", "bytes_run"] == pytest.approx(8000.0)


def curve(steps, values):
    return json.dumps({"step": steps, "val_acc": values})


def test_steps_and_time_to_target_with_a_paired_speedup():
    df = noisy_store()
    steps = [10, 20, 30, 40]
    base = {0: [0.5, 0.69, 0.7, 0.7], 1: [0.5, 0.6, 0.69, 0.7], 2: [0.69, 0.7, 0.7, 0.7], 3: [0.6, 0.69, 0.7, 0.7]}
    base[4] = base[3]
    fast = {0: [0.69] * 4, 1: [0.5, 0.69, 0.69, 0.69], 2: [0.69] * 4, 3: [0.69] * 4, 4: [0.5, 0.5, 0.69, 0.69]}
    never = {s: [0.5, 0.55, 0.6, 0.6] for s in range(5)}
    for fwd, curves in (("none", base), ("uniform:b=8", fast), ("topk:r=0.2", never)):
        for seed, vals in curves.items():
            df.loc[(df["fwd"] == fwd) & (df["seed"] == seed), "curve"] = curve(steps, vals)
    s = table.build(df, "val_acc", links=LINKS).summary.set_index("fwd")
    # target = none's final mean (0.70) - 0.01 = 0.69
    assert s.loc["none", "steps_to_target"] == pytest.approx(np.mean([20, 30, 10, 20, 20]))
    assert s.loc["uniform:b=8", "steps_to_target"] == pytest.approx(np.mean([10, 20, 10, 10, 30]))
    assert s.loc["uniform:b=8", "reached"] == "5/5"
    assert math.isnan(s.loc["topk:r=0.2", "steps_to_target"]) and s.loc["topk:r=0.2", "reached"] == "0/5"
    u, n = s.loc["uniform:b=8"], s.loc["none"]
    assert u["tta_s_100mbit"] == pytest.approx(u["steps_to_target"] * u["est_batch_s_100mbit"])
    ratios = [
        b * n["est_batch_s_100mbit"] / (f * u["est_batch_s_100mbit"])
        for b, f in zip([20, 30, 10, 20, 20], [10, 20, 10, 10, 30], strict=True)
    ]
    logs = np.log(ratios)
    lo, hi = stats.t.interval(0.95, 4, loc=logs.mean(), scale=stats.sem(logs))
    assert u["tta_speedup_100mbit"] == pytest.approx(math.exp(logs.mean()))
    assert (u["tta_speedup_100mbit_low"], u["tta_speedup_100mbit_high"]) == pytest.approx((math.exp(lo), math.exp(hi)))
    md = table.render(table.build(df, "val_acc", links=LINKS), "val_acc", "md")
    assert "not reached (0/5)" in md and "tta speed-up @100mbit" in md


def test_time_to_accuracy_plot_draws_one_curve_per_config_with_curves(tmp_path):
    from reports.curves import plot_tta, seed_curves

    df = noisy_store()
    for fwd in ("none", "uniform:b=8"):
        for seed in range(5):
            df.loc[(df["fwd"] == fwd) & (df["seed"] == seed), "curve"] = curve([5, 10], [0.5 + 0.01 * seed, 0.7])
    rep = table.build(df, "val_acc", links=LINKS)
    steps, values = seed_curves(rep.runs, "exp", "none|none", "val_acc")
    assert steps.tolist() == [5, 10] and values.shape == (5, 2) and values[:, 0].mean() == pytest.approx(0.52)
    assert plot_tta(rep.summary, rep.runs, "val_acc", LINKS[0], tmp_path / "tta.png") == 2  # topk has none
    assert (tmp_path / "tta.png").stat().st_size > 10_000


def test_importance_is_refused_in_one_line_with_fewer_than_two_varying_params():
    from reports.sweep_plots import PlotRefused, importances, params_table

    df = noisy_store()  # none, uniform:b=8, topk:r=0.2: method, and the bits the spec stands for
    df["bits"] = "8"
    df["prune_ratio"] = np.where(df["fwd"] == "topk:r=0.2", "0.2", "")
    assert list(params_table(df).columns) == ["bwd", "method", "prune_ratio"]
    assert set(importances(df, "val_acc")) == {"bwd", "method", "prune_ratio"}
    one = df[df["fwd"] != "topk:r=0.2"].copy()
    one["config_json"] = one["config_json"].map(lambda c: json.dumps({**json.loads(c), "bwd": "none"}))
    with pytest.raises(PlotRefused, match=r"--plot-importance: 1 param\(s\) vary across the runs"):
        importances(one, "val_acc")


def test_eta_spreads_the_remaining_trials_over_the_concurrency():
    from tuning.progress import eta_s

    assert eta_s([], 5, [], 1) is None
    # 4 left at a median of 60 s, two running for 30 s and 90 s (counted as 30 + 60 done), 2 at once
    assert eta_s([50.0, 60.0, 70.0], 4, [30.0, 90.0], 2) == pytest.approx((4 * 60 - 90) / 2)
    assert eta_s([60.0], 0, [], 1) == 0.0


def test_a_trial_line_tells_two_rows_apart_by_their_backward():
    from tuning.progress import label

    fwd_only = {"fwd": "none", "placement": "first:1,last:1", "seed": 0}
    assert label(fwd_only) == "none @ first:1,last:1 seed=0"
    assert label({**fwd_only, "bwd": "uniform:b=4"}) == "none / bwd uniform:b=4 @ first:1,last:1 seed=0"


def test_without_a_terminal_the_driver_speaks_at_least_every_minute(capsys):
    from types import SimpleNamespace

    from tuning.progress import HEARTBEAT_S, Progress

    now = [1000.0]
    p = Progress(total=3, metric="val_acc", concurrency=1, bar=False, clock=lambda: now[0])
    trial = SimpleNamespace(trial_id="t1", config={"fwd": "none", "placement": "first:1", "seed": 0}, last_result={})
    p.on_trial_start(0, [], trial)
    assert "started none @ first:1 seed=0" in capsys.readouterr().out
    silent = []
    for _ in range(600):  # ten minutes of controller steps, one a second, the trial still running
        now[0] += 1.0
        p.on_step_begin(0, [])
        out = capsys.readouterr().out
        silent.append(0 if out else (silent[-1] + 1 if silent else 1))
        if out:
            assert "0 finished, 1 running, 0 failed of 3; ETA ?" in out
    assert max(silent) < HEARTBEAT_S and sum(1 for s in silent if s == 0) == 10
    trial.last_result = {"val_acc": 0.5}
    now[0] += 30
    p.on_trial_complete(0, [], trial)
    assert "[1/3] done     none @ first:1 seed=0 val_acc=0.5000 10.5 min" in capsys.readouterr().out
    quiet = Progress(total=1, metric="val_acc", concurrency=1, bar=True, clock=lambda: now[0])
    now[0] += 10 * HEARTBEAT_S
    quiet.heartbeat()  # on a terminal the bar speaks instead
    assert capsys.readouterr().out == ""


def test_the_json_and_csv_carry_each_registered_column_once_and_none_always_null():
    from reports import columns as cols

    df = noisy_store()
    for fwd in ("none", "uniform:b=8", "topk:r=0.2"):
        for seed in range(5):
            df.loc[(df["fwd"] == fwd) & (df["seed"] == seed), "curve"] = curve([10, 20], [0.6, 0.69 + 0.01 * seed])
    rep = table.build(df, "val_acc", links=LINKS)
    records = json.loads(table.render(rep, "val_acc", "json"))
    keys = set(records[0])
    expected = {c.name(lk.label) for lk in LINKS for c in cols.PER_LINK}
    linked = {k for k in keys if any(lk.label in k for lk in LINKS)}
    assert linked == expected  # every per-link column, and no other name built from a link
    csv_header = table.render(rep, "val_acc", "csv").splitlines()[0].split(",")
    assert len(csv_header) == len(set(csv_header)) and set(csv_header) == keys
    always_null = {k for k in keys if all(r[k] is None for r in records)}
    # what these runs do not log (no clean evaluation, no buffers, no compressed fraction) may be null
    allowed = {"val_acc_clean_mean", "compressed_fwd", "compressed_bwd", "compressed_fwd_run", "bytes_fwd_run",
               "bytes_bwd_run", "compressed_bwd_run", "buffer_mb", "bits", "split_bits", "prune_ratio", "iters", "rank",
               "setting_label"}  # fmt: skip
    assert always_null <= allowed, always_null


def test_the_soonest_row_and_whether_a_low_bit_row_is_three_times_sooner():
    from reports.tta import low_bit, soonest

    links = parse_links("10mbit,100mbit")
    df = noisy_store()
    df.loc[df["fwd"] == "uniform:b=8", ["fwd", "bwd", "method", "config_id"]] = [
        "uniform:b=3,range=absmax", "uniform:b=6,range=absmax,round=stochastic", "uniform", "low|6"]
    df.loc[df["fwd"] == "uniform:b=3,range=absmax", "bytes_fwd"] = 100.0
    df.loc[df["fwd"] == "uniform:b=3,range=absmax", "bytes_bwd"] = 200.0
    df.loc[df["fwd"] == "none", ["bytes_fwd", "bytes_bwd"]] = 16000.0  # fp32 at 10 Mbit/s: the wire dominates
    for fwd in ("none", "uniform:b=3,range=absmax", "topk:r=0.2"):
        for seed in range(5):
            reach = [0.6, 0.69 + 0.001 * seed] if fwd != "topk:r=0.2" else [0.5, 0.55]
            df.loc[(df["fwd"] == fwd) & (df["seed"] == seed), "curve"] = curve([10, 20], reach)
    s = table.build(df, "val_acc", links=links).summary
    low = s[s["fwd"] == "uniform:b=3,range=absmax"].iloc[0]
    assert low_bit(low) and not low_bit(s[s["fwd"] == "none"].iloc[0])
    text = soonest(s, [lk.label for lk in links])
    sp = low["tta_speedup_10mbit"]
    assert sp >= 3  # 300 bytes a sample against 32000
    assert "At 10mbit `uniform:b=3,range=absmax` / bwd `uniform:b=6,range=absmax,round=stochastic` reaches" in text
    assert f"Low-bit rows 3x sooner or more: `uniform:b=3,range=absmax` ({sp:.2f}x)." in text


def test_time_to_target_at_a_measured_step_where_link_check_recorded_one_and_the_estimate_elsewhere():
    from reports.measured import load

    df = noisy_store()
    for fwd in ("none", "uniform:b=8", "topk:r=0.2"):
        for seed in range(5):
            df.loc[(df["fwd"] == fwd) & (df["seed"] == seed), "curve"] = curve([10, 20], [0.6, 0.69 + 0.01 * seed])
    cfg = {"task": "fashion_mnist", "batch_size": 64}
    records = [{"task": "fashion_mnist", "method": "uniform:b=8", "link": "100mbit", "measured_s": 0.5, "config": cfg,
                "schedule": "1f1b", "microbatches": 4, "date": "2026-12-06"},
               {"task": "fashion_mnist", "method": "topk:r=0.2", "link": "100mbit", "measured_s": 0.7,
                "config": {**cfg, "batch_size": 32}},  # another setting: no match
               {"task": "fashion_mnist", "method": "none", "link": "100mbit", "measured_s": 0.6,
                "config": {**cfg, "placement": "first:8"}},  # other cuts, other stages: no match
               {"task": "fashion_mnist", "method": "topk:r=0.2", "link": "100mbit", "measured_s": 0.7,
                "config": {**cfg, "bwd": "uniform:b=4"}}]  # another backward than the row's: no match  # fmt: skip
    rep = table.build(df, "val_acc", links=LINKS, measured=records)
    s = rep.summary.set_index("fwd")
    assert s.loc["uniform:b=8", "tta_measured_100mbit"] == pytest.approx(s.loc["uniform:b=8", "steps_to_target"] * 0.5)
    assert math.isnan(s.loc["topk:r=0.2", "tta_measured_100mbit"]) and math.isnan(s.loc["none", "tta_measured_100mbit"])
    assert math.isnan(s.loc["uniform:b=8", "tta_measured_1gbit_5ms"])
    assert any("for 1 (row, link) pairs" in n and "1f1b, M=4" in n for n in rep.notes), rep.notes
    text = table.render(rep, "val_acc", "md")
    assert "(measured step: " in text
    with pytest.raises(ValueError, match="--measured"):
        load(__file__)


def test_a_link_check_method_names_its_own_backward_as_spaces_print_it_and_records_it_in_its_config():
    from reports.measured import method_config, method_label

    c = method_config("uniform:b=3,range=absmax bwd=uniform:b=6,range=absmax")
    assert c == {"fwd": "uniform:b=3,range=absmax", "bwd": "uniform:b=6,range=absmax"}
    assert method_label(c) == "uniform:b=3,range=absmax bwd=uniform:b=6,range=absmax"
    assert method_config("fp8") == {"fwd": "fp8"} and method_label({"fwd": "fp8"}) == "fp8"


def test_link_check_tta_gives_the_measured_time_to_target_ratio_beside_the_estimated_one(tmp_path, capsys):
    import sweep
    from reports import runs

    df = noisy_store()
    steps = {"none": ([10, 20], [0.69, 0.7]), "uniform:b=8": ([10, 20], [0.6, 0.695]), "topk:r=0.2": ([10, 20],
             [0.5, 0.6])}  # fmt: skip
    for fwd, (s, v) in steps.items():
        df.loc[df["fwd"] == fwd, "curve"] = curve(s, v)
    runs.write_csv(df, tmp_path / "runs.csv")
    cfg = {"task": "fashion_mnist", "batch_size": 64}
    rec = [{"task": "fashion_mnist", "method": m, "link": "100mbit", "measured_s": t, "config": cfg}
           for m, t in (("none", 0.8), ("uniform:b=8", 0.5))]  # fmt: skip
    (tmp_path / "rec.json").write_text(json.dumps(rec))
    args = ["link-check", "--tta", "--name", "exp", "--measured", str(tmp_path / "rec.json"), "--from",
            str(tmp_path / "runs.csv"), "--link", "100mbit", "--format", "json"]  # fmt: skip
    assert sweep.main(args) == 0
    (row,) = json.loads(capsys.readouterr().out)
    # none reaches 0.69 (its 0.70 - 1 pt) at step 10, uniform:b=8 at step 20; topk never (and has no record)
    assert row["best"] == "uniform:b=8" and row["measured_ratio"] == pytest.approx(20 * 0.5 / (10 * 0.8))
    est = table.build(df, "val_acc", links=LINKS).summary.set_index("fwd")["est_batch_s_100mbit"]
    assert row["estimated_ratio"] == pytest.approx(20 * est["uniform:b=8"] / (10 * est["none"]))
    assert sweep.main([*args[:5], str(tmp_path / "nope.json"), *args[6:]]) == 2
