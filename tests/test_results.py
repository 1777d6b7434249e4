"""reports/ on run tables made here (known answers): N counts distinct seeds, early-stopped
runs are out, paired Δ and its t CI, the link model, the front, claims' verdicts, runs.csv."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import schema
import sweep
from reports import claims, page, runs, sections, table
from reports import stats as rstats
from reports.link import LinkError, parse_links


def run_rows(spec_values: dict, experiment="exp", task="fashion_mnist", placement="first:1,last:1", **extra):
    """spec_values: (fwd, bwd) -> list of (seed, val_acc)."""
    rows = []
    t = 0
    for (fwd, bwd), values in spec_values.items():
        cid = f"{fwd}|{bwd}"
        for seed, acc in values:
            t += 1
            cfg = {"task": task, "fwd": fwd, "bwd": bwd, "placement": placement, "seed": seed, "batch_size": 64}
            row = {c: math.nan if c in schema.REPORTED else "" for c in runs.COLUMNS}
            row.update(
                experiment=experiment, config_id=cid, task=task, method=fwd.split(":")[0], bits="8",
                placement=placement, fwd=fwd, bwd=bwd, seed=seed, run_id=f"r{t}", status="FINISHED",
                start_time=t, end_time=t + 60_000, stopped_early=False, epochs_reached=3, compiled="false",
                batch_size=64, cuts=2, config_json=json.dumps(cfg), val_acc=acc, step_time=0.1,
                compress_time=0.01, bytes_fwd=1000.0 if fwd != "none" else 4000.0,
                bytes_bwd=1000.0 if bwd != "none" else 4000.0, ratio=0.25, snr_fwd_db=30.0, snr_bwd_db=20.0,
                buffer_mb=0.0, host="h0",
            )  # fmt: skip
            row.update(extra)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(runs.COLUMNS))


def test_n_counts_distinct_seeds_and_duplicates_are_reported():
    df = run_rows({("none", "none"): [(0, 0.7), (1, 0.72)], ("uniform:b=8", "none"): [(0, 0.5), (0, 0.6), (1, 0.62)]})
    rep = table.build(df, "val_acc")
    row = rep.summary[rep.summary["fwd"] == "uniform:b=8"].iloc[0]
    assert row["n"] == 2 and row["seeds"] == "0,1"  # seed 0 once: the latest run (0.6)
    assert row["val_acc_mean"] == pytest.approx(0.61)
    assert any("1 duplicate" in n for n in rep.notes)


def test_early_stopped_runs_are_out_of_the_means():
    df = run_rows({("none", "none"): [(0, 0.7), (1, 0.7)], ("uniform:b=4", "none"): [(0, 0.2), (1, 0.6)]})
    df.loc[(df["fwd"] == "uniform:b=4") & (df["seed"] == 0), ["stopped_early", "epochs_reached"]] = [True, 1]
    rep = table.build(df, "val_acc")
    row = rep.summary[rep.summary["fwd"] == "uniform:b=4"].iloc[0]
    assert row["n"] == 1 and row["val_acc_mean"] == pytest.approx(0.6)
    assert any("early-stopped" in n for n in rep.notes)
    assert table.build(df, "val_acc", include_stopped=True).summary.set_index("fwd").loc["uniform:b=4", "n"] == 2


def test_paired_difference_and_t_interval():
    base = [(s, v) for s, v in enumerate([0.70, 0.72, 0.69, 0.71])]
    other = [(s, v) for s, v in enumerate([0.66, 0.70, 0.64, 0.69])]
    df = run_rows({("none", "none"): base, ("uniform:b=8", "uniform:b=8"): other})
    s = table.build(df, "val_acc").summary.set_index("fwd")
    d = np.array([o[1] - b[1] for o, b in zip(other, base, strict=True)])
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    r = s.loc["uniform:b=8"]
    assert r["delta_mean"] == pytest.approx(d.mean()) and r["n_paired"] == 4
    assert (r["delta_ci_low"], r["delta_ci_high"]) == pytest.approx((lo, hi))
    assert s.loc["none", "delta_mean"] == 0


def test_link_model_and_speedup_follow_the_formula():
    df = run_rows({("none", "none"): [(0, 0.7)], ("uniform:b=8", "uniform:b=8"): [(0, 0.7)]})
    links = parse_links("100mbit,1gbit+20ms")
    s = table.build(df, "val_acc", links=links).summary.set_index("fwd")
    for fwd, bytes_total in (("none", 8000.0), ("uniform:b=8", 2000.0)):
        est = 0.1 + bytes_total * 64 * 8 / 100e6
        assert s.loc[fwd, "est_batch_s_100mbit"] == pytest.approx(est)
        assert s.loc[fwd, "est_batch_s_1gbit_20ms"] == pytest.approx(0.1 + bytes_total * 64 * 8 / 1e9 + 2 * 0.02 * 2)
    sp = s.loc["none", "est_batch_s_100mbit"] / s.loc["uniform:b=8", "est_batch_s_100mbit"]
    assert s.loc["uniform:b=8", "speedup_100mbit"] == pytest.approx(sp)
    assert s.loc["none", "speedup_100mbit"] == pytest.approx(1.0)
    with pytest.raises(LinkError, match="100mbps"):
        parse_links("100mbps")


def test_pareto_front():
    df = run_rows(
        {
            ("none", "none"): [(0, 0.70), (1, 0.70)],  # most accurate: on the front
            ("uniform:b=8", "uniform:b=8"): [(0, 0.69), (1, 0.69)],  # fewer bytes: on the front
            ("uniform:b=4", "none"): [(0, 0.60), (1, 0.60)],  # more bytes than uniform:b=8 and worse: off
            ("uniform:b=2", "uniform:b=2"): [(0, 0.10), (1, 0.102)],  # fewest bytes, but at the majority class
            ("uniform:b=3", "uniform:b=3"): [(0, 0.5)],  # fewer bytes than uniform:b=8, but one seed
        }
    )
    df.loc[df["fwd"].isin(["uniform:b=2", "uniform:b=3"]), ["bytes_fwd", "bytes_bwd"]] = 100.0
    s = table.build(df, "val_acc").summary.set_index("fwd")
    assert bool(s.loc["none", "pareto"]) and bool(s.loc["uniform:b=8", "pareto"])
    assert not bool(s.loc["uniform:b=4", "pareto"])
    assert not bool(s.loc["uniform:b=2", "pareto"]) and bool(s.loc["uniform:b=2", "at_floor"])
    assert not bool(s.loc["uniform:b=3", "pareto"]) and not bool(s.loc["uniform:b=3", "at_floor"])


def ci_rule(relation, low, high, margin):
    """The CI reading of a claim: the outcome whose region the whole 95% CI lies in."""
    lines = {"matches": (-margin, margin), "loses": (0, 0), "beats": (0, 0), "collapses": (-margin, -margin)}[relation]
    inside = lines[0] < low and high < lines[1]
    below, above = high < lines[0], low > lines[1]
    if relation == "matches":
        return "holds" if inside else "does not hold" if (high < -margin or low > margin) else None
    if relation == "beats":
        return "holds" if above else "does not hold" if below else None
    return "holds" if below else "does not hold" if above else None


@pytest.mark.parametrize("relation,margin", [("matches", 0.01), ("loses", 0.01), ("beats", 0.01), ("collapses", 0.05)])
def test_raw_p_below_5_percent_is_exactly_the_ci_rule(relation, margin):
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(2, 7))
        d = rng.normal(rng.uniform(-0.1, 0.05), rng.uniform(0.001, 0.05), n)
        lo, hi = stats.t.interval(0.95, n - 1, loc=d.mean(), scale=stats.sem(d))
        outcome, p = claims.test(relation, d, margin)
        expect = ci_rule(relation, lo, hi, margin)
        assert (outcome if p < 0.05 else None) == expect, (d, lo, hi, outcome, p)


def test_zero_variance_differences_take_the_exact_sign_test():
    outcome, p = claims.test("beats", [0.02] * 5, 0.01)
    assert outcome == "holds" and p == pytest.approx(2**-4)
    outcome, p = claims.test("beats", [0.0] * 5, 0.01)  # no difference at all: nothing to decide
    assert p == 1.0
    outcome, p = claims.test("collapses", [-0.3] * 3, 0.05)
    assert outcome == "holds" and p == pytest.approx(0.25)  # 3 seeds cannot decide after all


def test_holm_adjusts_like_the_textbook():
    # p sorted 0.01, 0.02, 0.04, 0.3 over m=4: 0.04, 0.06, 0.08, 0.3 (monotone)
    assert claims.holm([0.04, 0.01, 0.3, 0.02]) == pytest.approx([0.08, 0.04, 0.3, 0.06])
    out = claims.holm([0.01, math.nan])
    assert out[0] == pytest.approx(0.01) and math.isnan(out[1])


def decide(claim, rep):
    return claims.verdicts([claim], rep.summary, rep.runs, family="test")[0]


def test_a_family_of_claims_is_decided_after_holm():
    seeds = range(4)
    df = run_rows(
        {("none", "none"): [(s, 0.70 + 0.003 * s) for s in seeds],
         ("uniform:b=8", "none"): [(s, 0.70 + 0.003 * s - 0.02 - [0.0, 0.008, 0.002, 0.006][s]) for s in seeds],
         ("uniform:b=4", "none"): [(s, 0.30 + 0.05 * (s % 2)) for s in seeds]},
    )  # fmt: skip
    rep = table.build(df, "val_acc")
    none = claims.Config("none", "none")
    loses = claims.Claim("exp", "fashion_mnist", "8 loses", claims.Config("uniform:b=8", "none"), "loses", none)
    collapses = claims.Claim(
        "exp", "fashion_mnist", "4 collapses", claims.Config("uniform:b=4", "none"), "collapses", none, 0.05
    )
    alone = decide(loses, rep)
    assert alone.verdict == "holds" and alone.p_raw < 0.05 and alone.p_adj == alone.p_raw
    fam = claims.verdicts([loses, collapses], rep.summary, rep.runs, family="exp")
    ps = [v.p_raw for v in fam]
    assert [v.p_adj for v in fam] == pytest.approx(claims.holm(ps))
    for v in fam:
        assert v.verdict == (v.outcome if v.p_adj < 0.05 else f"inconclusive at N={v.n}")
    assert "p Holm" in claims.table(fam) and "after Holm over the exp family" in claims.fmt(fam[0])


def test_two_rows_at_the_majority_class_are_untestable():
    df = run_rows(
        {("none", "none"): [(s, 0.7 + 0.01 * s) for s in range(3)],
         ("uniform:b=4", "uniform:b=4"): [(s, 0.1) for s in range(3)],
         ("uniform:b=4,round=stochastic", "uniform:b=4,round=stochastic"): [(s, 0.1 + 0.002 * s) for s in range(3)]},
    )  # fmt: skip
    rep = table.build(df, "val_acc")
    sto, rtn = (
        claims.Config("uniform:b=4,round=stochastic", "uniform:b=4,round=stochastic"),
        claims.Config("uniform:b=4", "uniform:b=4"),
    )
    v = decide(claims.Claim("exp", "fashion_mnist", "sto beats", sto, "beats", rtn), rep)
    assert v.verdict == claims.UNTESTABLE and "More seeds" not in claims.fmt(v)
    v = decide(
        claims.Claim("exp", "fashion_mnist", "collapse", rtn, "collapses", claims.Config("none", "none"), 0.05), rep
    )
    assert v.verdict == "holds"  # one row at the floor, the other not: a finding


def test_pairs_form_within_one_machine_only():
    df = run_rows({("none", "none"): [(s, 0.7 + 0.01 * s) for s in range(3)],
                   ("uniform:b=8", "none"): [(s, 0.6 + 0.01 * s) for s in range(3)]})  # fmt: skip
    df["host"] = ["a", "a", "b", "a", "a", "a"]  # none seed 2 ran elsewhere
    s = table.build(df, "val_acc").summary.set_index("fwd")
    assert s.loc["uniform:b=8", "n_paired"] == 2 and s.loc["uniform:b=8", "n_across"] == 1
    rep = table.build(df, "val_acc")
    assert any("not known to have run on one machine" in n for n in rep.notes)
    assert "(N=2 paired)" in table.render(rep, "val_acc", "md")
    both = table.build(df, "val_acc", pair_across=True).summary.set_index("fwd")
    assert both.loc["uniform:b=8", "n_paired"] == 3


def test_claim_on_runs_gives_numbers_and_a_rerun_command():
    df = run_rows(
        {
            ("none", "none"): [(0, 0.70), (1, 0.72), (2, 0.71)],
            ("uniform:b=8", "uniform:b=8"): [(0, 0.10), (1, 0.12), (2, 0.10)],
            ("uniform:b=8,round=stochastic", "uniform:b=8,round=stochastic"): [(0, 0.69), (1, 0.74), (2, 0.66)],
        }
    )
    rep = table.build(df, "val_acc")
    none = claims.Config("none", "none")
    collapse = claims.Claim("exp", "fashion_mnist", "8-bit collapses", claims.Config("uniform:b=8", "uniform:b=8"),
                            "collapses", none, 0.05)  # fmt: skip
    v = decide(collapse, rep)
    assert v.verdict == "holds" and v.n == 3 and v.mean == pytest.approx(-0.6033, abs=1e-3)
    assert v.per_seed == pytest.approx((-0.60, -0.60, -0.61)) and "Per seed: -60.0, -60.0, -61.0." in claims.fmt(v)
    sto = "uniform:b=8,round=stochastic"
    noisy = claims.Claim("exp", "fashion_mnist", "stochastic matches", claims.Config(sto, sto), "matches", none, 0.01)
    v = decide(noisy, rep)
    assert v.verdict == "inconclusive at N=3"
    assert v.needs is None and "No N up to 100 seeds decides it" in claims.fmt(v)  # Δ -1.3 ± 3.5 at a 1 pt margin
    assert "(no N ≤ 100)" in claims.table([v])
    missing = claims.Claim("exp", "fashion_mnist", "x", claims.Config("uniform:b=2"), "matches", none)
    assert decide(missing, rep).verdict == "not run"


def test_page_rebuilds_from_runs_csv_without_mlflow(tmp_path):
    df = run_rows(
        {("none", "none"): [(s, 0.7 + 0.01 * s) for s in range(5)],
         ("uniform:b=8", "uniform:b=8"): [(s, 0.1) for s in range(5)],
         ("none", "uniform:b=8"): [(s, 0.12) for s in range(5)]},
        experiment="results-collapse",
    )  # fmt: skip
    import search_spaces

    collapse = search_spaces.get("collapse")
    grid = {(c["fwd"], c["bwd"]): c for c in collapse.grid(collapse.base("fashion_mnist"), 1)}
    keys = list(zip(df["fwd"], df["bwd"], strict=True))
    df["config_id"] = [schema.config_id(grid[k]) for k in keys]
    df["config_json"] = [json.dumps({**grid[k], "seed": s}) for k, s in zip(keys, df["seed"], strict=True)]
    earlier = run_rows({("none", "none"): [(0, 0.2)]}, experiment="results-collapse")  # another setting's id
    df = pd.concat([df, earlier.assign(run_id="old", start_time=0)], ignore_index=True)
    csv = tmp_path / "runs.csv"
    runs.write_csv(df, csv)
    back = runs.read_csv(csv)
    assert len(back) == 16 and set(back["experiment"]) == {"results-collapse"}
    out = tmp_path / "page"
    assert sweep.main(["results", "--from", str(csv), "--out", str(out), "--readme", ""]) == 0
    page = (out / "README.md").read_text()
    assert "8-bit min-max uniform both ways collapses** — *holds*" in page
    assert "8 bits on the backward only collapses** — *holds*" in page
    assert "Rows missing or short of 5 seeds" in page and "not run" in page
    # the run of an earlier setting is counted, not averaged into today's none row (0.72 ± 0.016)
    assert "1 finished runs of this experiment trained an earlier setting (fashion_mnist: " in page
    assert "recipe=legacy" in page.split("trained an earlier setting")[1].split(")")[0]
    assert "| 72.0% ± 1.6 | 5 |" in page
    assert (out / "results-collapse-fashion_mnist.png").stat().st_size > 10_000


def test_the_plan_names_real_spaces_and_the_makefile_runs_it(capsys):
    import search_spaces

    plan = sections.plan()
    assert [p[:2] for p in plan][:2] == [("results-collapse", "collapse"), ("results-collapse", "collapse-nlp")]
    for sec in sections.SECTIONS:
        for space, task, seeds in sec.spaces:
            assert search_spaces.get(space).default_task == task and seeds >= 3
    assert sweep.main(["results", "--plan"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "results-collapse collapse 5" and len([x for x in lines if x]) == len(plan)
    make = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "sweep.py results --plan" in make and "--done-from docs/results/runs.csv" in make


def test_wall_time_sums_runs_not_the_gap_between_sittings():
    day = 24 * 3600 * 1000
    df = pd.DataFrame({"start_time": [0, 60_000, 2 * day], "end_time": [60_000, 180_000, 2 * day + 120_000]})
    assert page._wall(df) == pytest.approx(5.0)  # 1 + 2 + 2 minutes, not two days


def test_clean_evaluation_is_a_column_only_when_runs_have_it():
    old = table.build(run_rows({("delta:b=3", "none"): [(0, 0.59), (1, 0.61)]}), "val_acc")
    assert "val_acc eval uncompressed" not in table.render(old, "val_acc", "md")
    df = run_rows({("delta:b=3", "none"): [(0, 0.59), (1, 0.61)]}, val_acc_clean=0.8)
    df.loc[1, "val_acc_clean"] = 0.7
    rep = table.build(df, "val_acc")
    assert rep.summary["val_acc_clean_mean"].iloc[0] == pytest.approx(0.75)
    assert "| val_acc eval uncompressed |" in table.render(rep, "val_acc", "md")
    assert "75.0%" in table.render(rep, "val_acc", "md")


def test_a_claim_on_the_clean_evaluation_judges_that_column():
    # delta scores like its direct quantizer through the boundaries (val_acc) but trains a model
    # as good as the baseline (val_acc_clean): the claim on val_acc_clean must see the latter
    df = run_rows(
        {("none", "none"): [(0, 0.70), (1, 0.72), (2, 0.71)],
         ("delta:b=3", "none"): [(0, 0.55), (1, 0.58), (2, 0.50)]},
    )  # fmt: skip
    df["val_acc_clean"] = df["val_acc"]
    df.loc[df["fwd"] == "delta:b=3", "val_acc_clean"] = [0.702, 0.718, 0.711]
    df.loc[df["fwd"] == "delta:b=3", "compressed_fwd_run"] = 2 / 3  # 3 epochs: two thirds went as deltas
    rep = table.build(df, "val_acc")
    none, delta = claims.Config("none", "none"), claims.Config("delta:b=3", "none")
    on_acc = claims.Claim("exp", "fashion_mnist", "m", delta, "matches", none, 0.01)
    on_clean = claims.Claim("exp", "fashion_mnist", "m", delta, "matches", none, 0.01, "val_acc_clean")
    assert decide(on_acc, rep).verdict == "does not hold"
    v = decide(on_clean, rep)
    assert v.verdict == "holds" and v.mean == pytest.approx(0.001 / 3, abs=1e-9)
    assert v.per_seed == pytest.approx((0.002, -0.002, 0.001))
    assert "paired Δ on val_acc_clean = +0.0 pts" in claims.fmt(v)


def test_a_claim_on_a_compressor_that_never_acted_is_untestable():
    # AQ-SGD in one epoch sends every example exactly: its row cannot carry a claim, however it scores
    values = {("none", "none"): [(0, 0.70), (1, 0.72), (2, 0.71)],
              ("delta:b=3", "none"): [(0, 0.40), (1, 0.41), (2, 0.42)]}  # fmt: skip
    df = run_rows(values)
    df.loc[df["fwd"] == "delta:b=3", "compressed_fwd_run"] = 0.0
    claim = claims.Claim("exp", "fashion_mnist", "m", claims.Config("delta:b=3", "none"), "collapses",
                         claims.Config("none", "none"), 0.05)  # fmt: skip
    v = decide(claim, table.build(df, "val_acc"))
    assert v.verdict == claims.INACTIVE and "sent 0% of its forward values compressed" in claims.fmt(v)
    # runs from before the metric: what the compressor sends in the config's epochs (1 here: none)
    df["compressed_fwd_run"] = math.nan
    assert decide(claim, table.build(df, "val_acc")).verdict == claims.INACTIVE
    df["config_json"] = [json.dumps({**json.loads(c), "epochs": 3}) for c in df["config_json"]]
    assert decide(claim, table.build(df, "val_acc")).verdict == "holds"  # 2/3 compressed, -29.7 pts


def test_runs_with_no_recorded_host_do_not_pair():
    df = run_rows({("none", "none"): [(0, 0.70), (1, 0.72)], ("uniform:b=8", "none"): [(0, 0.60), (1, 0.62)]}, host="")
    r = table.build(df, "val_acc").summary.set_index("fwd").loc["uniform:b=8"]
    assert r["n_paired"] == 0 and r["n_across"] == 2
    r = table.build(df, "val_acc", pair_across=True).summary.set_index("fwd").loc["uniform:b=8"]
    assert r["n_paired"] == 2 and r["delta_mean"] == pytest.approx(-0.10)


def test_rows_of_several_settings_pair_with_their_own_baseline():
    a = run_rows({("none", "none"): [(0, 0.70), (1, 0.72)], ("none", "uniform:b=4"): [(0, 0.20), (1, 0.22)]})
    b = run_rows({("none", "none"): [(0, 0.80), (1, 0.82)], ("none", "uniform:b=4"): [(0, 0.79), (1, 0.80)]})
    b["config_id"] = b["config_id"] + "|bn"
    b["config_json"] = [json.dumps({**json.loads(c), "bn_momentum": 0.1}) for c in b["config_json"]]
    b["run_id"] = b["run_id"] + "b"
    rep = table.build(pd.concat([a, b], ignore_index=True), "val_acc")
    s = rep.summary.set_index(["fwd", "bwd", "setting_label"])
    assert s.loc[("none", "uniform:b=4", ""), "delta_mean"] == pytest.approx(-0.50)
    assert s.loc[("none", "uniform:b=4", "bn_momentum=0.1"), "delta_mean"] == pytest.approx(-0.015)
    keep = claims.Claim("exp", "fashion_mnist", "m",
                        claims.Config("none", "uniform:b=4", setting=(("bn_momentum", 0.1),), tag="bn"), "keeps",
                        claims.Config("none", "none", setting=(("bn_momentum", 0.1),), tag="bn"), 0.05)  # fmt: skip
    v = decide(keep, rep)
    assert v.mean == pytest.approx(-0.015) and v.outcome == "holds" and "[bn]" in claims.fmt(v)
    assert "setting" in table.display(rep.summary, "val_acc").columns


def test_every_claim_rests_on_rows_its_sections_sweeps_run():
    # a claim on a config no sweep of its section runs would read "not run" forever
    import search_spaces
    from reports.findings import CLAIMS

    by_name = {s.experiment: s for s in sections.SECTIONS}
    for c in CLAIMS:
        spaces = [search_spaces.get(sp) for sp, task, _ in by_name[c.experiment].spaces if task == c.task]
        assert spaces, c.text
        have = {
            claims.Config(r["fwd"], r.get("bwd", ""), r.get("placement")).key(c.task) for sp in spaces for r in sp.rows
        }
        for cfg in (c.a, c.b):
            assert cfg.key(c.task) in have, (c.text, cfg)
    # the NLP study claims' rows run first, so a sitting that stops early still decides them
    nlp = search_spaces.get("seed-nlp").rows[:3]
    assert [r["fwd"] for r in nlp] == ["none", "uniform:b=8", "uniform:b=4"]


def test_replicates_pair_each_repeat_with_the_first_run():
    base = {("none", "none"): [(0, 0.70), (1, 0.72)]}
    a = run_rows(base, experiment="e1", train_loss=0.5)
    b = run_rows(base, experiment="e2", train_loss=0.5)  # identical runs
    c = run_rows({("none", "none"): [(0, 0.60), (1, 0.72)]}, experiment="e3", train_loss=0.6)
    for i, d in enumerate((a, b, c)):
        d["start_time"] = d["start_time"] + i * 1_000_000
    rep = rstats.replicates(pd.concat([a, b, c], ignore_index=True), "val_acc")
    assert len(rep) == 4 and set(rep["experiment_a"]) == {"e1"}
    assert rep["identical"].tolist() == [True, False, True, False]
    worst = rep.loc[(rep["a"] - rep["b"]).abs().idxmax()]
    assert (worst["seed"], worst["experiment_b"], worst["b"]) == (0, "e3", 0.60)
    c["host"] = "other"  # e3 ran on another machine: the paragraph counts per machine
    text = page._reproducibility(pd.concat([a, b, c], ignore_index=True))
    assert "4 (config, seed) pairs finished in two experiments (on one recorded host: 2 of 2 identical; " in text
    assert "on two recorded hosts: 0 of 2 identical;" in text and "2 were identical" in text
    a["host"] = ""  # e1's runs predate hosts: their pairs are not counted as one machine
    text = page._reproducibility(pd.concat([a, b, c], ignore_index=True))
    assert "(with a host not recorded: 2 of 4 identical;" in text
    assert page._reproducibility(a) == ""  # no repeats, no paragraph


def test_rows_a_collapse_claim_rests_on_need_five_seeds():
    df = run_rows(
        {("none", ""): [(s, 0.8) for s in range(3)], ("uniform:b=9", ""): [(s, 0.78) for s in range(3)],
         ("uniform:b=16", ""): [(s, 0.79) for s in range(3)]},
        experiment="results-cv",
    )  # fmt: skip
    import search_spaces

    sp = search_spaces.get("seed-cv")  # the rows are found by the config ids the space gives them
    ids = {(c["fwd"], c.get("bwd") or ""): schema.config_id(c) for c in sp.grid(sp.base("fashion_mnist"), 1)
           if c["placement"] == "first:1,last:1"}  # fmt: skip
    df["config_id"] = [ids[(f, b)] for f, b in zip(df["fwd"], df["bwd"], strict=True)]
    rep = table.build(df, "val_acc")
    collapse = page._collapse_rows("results-cv", "fashion_mnist")
    assert ("uniform:b=9", "", "first:1,last:1") in collapse and ("uniform:b=16", "", "first:1,last:1") not in collapse
    lines, short = page._missing("fashion_mnist", "seed-cv", 3, rep.summary, collapse)
    assert "`uniform:b=9`: N=3 of 5 (a collapse claim rests on it)" in lines
    assert "`none`: N=3 of 5 (a collapse claim rests on it)" in lines
    assert not any(x.startswith("`uniform:b=16`") for x in lines)  # 3 seeds are enough for a matches claim
    assert sorted(short[5]) == sorted([ids[("none", "")], ids[("uniform:b=9", "")]]) and set(short) == {5}
    assert "`topk:r=0.5`: not run" in lines
    # a row whose seeds ran on no recorded host pairs with nothing: the page says so
    df.loc[df["fwd"] == "uniform:b=16", "host"] = ["", "h0", ""]
    text = page._missing_line("results-cv", "seed-cv", "fashion_mnist", 3, rep.summary, df)
    assert "`uniform:b=16`: N=3, 1 on a recorded host" in text and "again those run on no recorded host" in text
    assert "`none`: N=3 of 5" in text and "`none`: N=3, " not in text


def reference_needs(mean, sd, c, family):
    """The textbook one-sided t-test (CI rule) against the line c, smallest N deciding it."""
    for n in range(2, 101):
        t = abs(mean - c) * math.sqrt(n) / sd
        if 2 * stats.t.sf(t, n - 1) * family < 0.05:
            return n
    return None


@pytest.mark.parametrize("mean,sd,family", [(-0.10, 0.02, 1), (-0.08, 0.03, 1), (-0.08, 0.03, 12), (-0.02, 0.04, 5)])
def test_seeds_needed_is_the_t_test_at_bonferronis_level(mean, sd, family):
    d = mean + sd * np.array([-1.0, 0.0, 1.0])  # sample std exactly sd
    expect = reference_needs(mean, sd, -0.05, family)
    assert claims.seeds_needed("collapses", d, 0.05, family) == expect
    assert expect is not None
    z = np.arange(expect) - (expect - 1) / 2
    sample = mean + sd * z / np.std(z, ddof=1)  # at that N, today's mean and spread decide it
    assert claims.test("collapses", sample, 0.05)[1] * family < 0.05


def test_seeds_needed_edges():
    assert claims.seeds_needed("collapses", [-0.05, -0.04, -0.06], 0.05, 1) is None  # Δ on the margin
    assert claims.seeds_needed("beats", [0.02, 0.02], 0.01, 1) == 6  # no spread: sign test, 2^-5 < 0.05
    assert claims.seeds_needed("beats", [0.02, 0.02], 0.01, 4) == 8  # 4 x 2^-7 < 0.05 <= 4 x 2^-6
    more = claims.seeds_needed("matches", [0.001, -0.004, 0.006], 0.01, 9)
    assert more > claims.seeds_needed("matches", [0.001, -0.004, 0.006], 0.01, 1)


def test_an_inconclusive_claim_states_the_seeds_it_needs():
    df = run_rows(
        {("none", "none"): [(s, 0.80 + 0.01 * s) for s in range(3)],
         ("uniform:b=4", "none"): [(s, 0.80 + 0.01 * s - [0.06, 0.12, 0.09][s]) for s in range(3)]},
    )  # fmt: skip
    rep = table.build(df, "val_acc")
    claim = claims.Claim("exp", "fashion_mnist", "4 collapses", claims.Config("uniform:b=4", "none"), "collapses",
                         claims.Config("none", "none"), 0.05)  # fmt: skip
    v = decide(claim, rep)
    assert v.verdict == "inconclusive at N=3"
    assert v.needs == reference_needs(-0.09, 0.03, -0.05, 1)
    assert f"needs N = {v.needs} seeds" in claims.fmt(v) and f"--seeds {v.needs}" in claims.fmt(v)
    assert f"(needs {v.needs})" in claims.table([v])


def test_the_recipe_search_table_judges_the_target(tmp_path):
    from reports import recipe

    path = tmp_path / "recipe-search.jsonl"
    lines = [{"recipe": "a", "seed": s, "acc": [0.5, acc], "loss": 0.4, "s": 1.0}
             for s, acc in enumerate([0.86, 0.85, 0.87, 0.855, 0.865])]  # fmt: skip
    lines += [{"recipe": "b", "seed": s, "acc": [acc], "loss": 0.7, "s": 1.0} for s, acc in enumerate([0.9, 0.8])]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    text = recipe._search(path)
    assert "| a | 5 | 86.0, 85.0, 87.0, 85.5, 86.5 | 86.0 ± 0.8 | 0.400 |" in text
    assert "| b | 2 | 90.0, 80.0 | 85.0 ± 7.1 | 0.700 |" in text
    assert "is met by a." in text
    path.write_text("".join(json.dumps({**x, "acc": [x["acc"][-1] - 0.02]}) + "\n" for x in lines))
    assert "No variant with 5 seeds meets the target" in recipe._search(
        path
    ) and "best is a at 84.0 ± 0.8" in recipe._search(path)


def test_the_readme_block_links_a_page_written_outside_its_folder(tmp_path):
    from reports import page

    readme, out = tmp_path / "repo" / "README.md", tmp_path / "pages" / "results"
    readme.parent.mkdir()
    out.mkdir(parents=True)
    readme.write_text(f"# x\n{page.START}\nold\n{page.END}\ntail\n")
    page.update_readme(readme, out.resolve(), [])
    text = readme.read_text()
    assert "[../pages/results/README.md](../pages/results/README.md)" in text and "\nold\n" not in text
    assert text.endswith(f"{page.END}\ntail\n") and "Nothing decided yet." in text


def test_the_recipe_table_has_each_settings_baseline_and_its_target():
    from reports import recipe

    def runs_of(experiment, cid, cfg, accs):
        return [{"status": "FINISHED", "experiment": experiment, "task": "fashion_mnist", "fwd": "none",
                 "bwd": "none" if cfg.get("image_size", 32) == 32 else "",
                 "config_json": json.dumps({**cfg, "seed": s}), "seed": s, "val_acc": a, "train_loss": 0.5}
                for s, a in enumerate(accs)]  # fmt: skip

    small = {"limit_train": 4000, "epochs": 3}
    big = {"limit_train": 640, "epochs": 2, "image_size": 224}
    wide = {"limit_train": 6000, "epochs": 1, "image_size": 64}  # the CV default since issue 20
    old = pd.DataFrame(
        runs_of("results-collapse", "a", small, [0.68, 0.70]) + runs_of("results-cv224", "b", big, [0.5, 0.3])
    )
    new = pd.DataFrame(
        runs_of("results-collapse", "c", {**small, "recipe": "finetune"}, [0.86, 0.85, 0.87, 0.855, 0.865])
        + runs_of("results-collapse", "e", {**wide, "recipe": "finetune"}, [0.85, 0.86])
        + runs_of("recipe-cv224", "d", {**big, "recipe": "finetune"}, [0.82, 0.78, 0.75, 0.80, 0.81])
        + runs_of("results-cv224", "b", big, [0.5])  # a legacy run left in runs.csv: the v2 row's, not shown twice
        + runs_of("results-cv224", "d", {**big, "recipe": "finetune"}, [0.82, 0.78])  # the same trainings again
    )
    new["host"] = "h0"
    lines = recipe._baselines(old, new)
    assert len(lines) == 5
    assert lines[0].startswith(
        "| CV default | legacy (32 px, 4000 images, 3 epochs; results-collapse; docs/results/v2/runs.csv) | 2 |"
    )
    assert "| 86.0 ± 0.8 |" in lines[1] and lines[1].endswith("≥ 85%, std ≤ 1: met |")
    assert lines[2].startswith(
        "| CV default | finetune (64 px, 6000 images, 1 epoch; results-collapse; docs/results/runs.csv) | 2 |"
    )
    assert lines[2].endswith("≥ 85%, std ≤ 1: 2 of 5 seeds |")
    assert lines[3].startswith(
        "| 224 px | legacy (224 px, 640 images, 2 epochs; results-cv224; docs/results/v2/runs.csv) |"
    )
    # seeds 0-1 of d in both experiments on one host count once: N = 5, not 7
    assert "recipe-cv224, results-cv224; docs/results/runs.csv) | 5 |" in lines[4]
    assert "| 79.2 ± 2.8 |" in lines[4] and lines[4].endswith("≥ 80%, std ≤ 2: not met |")


def test_the_readme_results_block_is_what_the_page_builder_makes(tmp_path):
    # every number in the README's results block comes from the page builder on the committed runs.csv
    from reports import page as pagemod

    readme = (schema.REPO / "README.md").read_text()
    block = pagemod.START + readme.split(pagemod.START, 1)[1].split(pagemod.END, 1)[0] + pagemod.END
    df = runs.read_csv(schema.REPO / "docs" / "results" / "runs.csv")
    _, verdicts = pagemod.build(tmp_path, df)
    plots = sorted(p.name for p in (schema.REPO / "docs" / "results").glob("results-collapse-*.png"))
    assert block == pagemod.readme_block(Path("docs/results"), df, verdicts, plots)


def test_done_from_skips_only_runs_on_a_recorded_host(tmp_path):
    # a hostless run pairs with nothing on the page, so `make results` runs it again on this host
    from cli.run import finished_in_csv

    df = run_rows({("none", "none"): [(0, 0.8), (1, 0.8)], ("uniform:b=8", "none"): [(0, 0.8)]}, experiment="e")
    runs.write_csv(df, tmp_path / "all.csv")
    every = finished_in_csv(str(tmp_path / "all.csv"), "e")
    assert len(every) == 3
    df.loc[1, "host"] = ""
    df.loc[2, "host"] = math.nan
    runs.write_csv(df, tmp_path / "runs.csv")
    (kept,) = finished_in_csv(str(tmp_path / "runs.csv"), "e")
    assert kept in every and kept[1] == "0" and (kept[0], "1") in every  # `none` seed 0, on host h0


def test_runs_of_an_earlier_setting_are_left_out_and_named_by_what_differs():
    sec = next(s for s in sections.SECTIONS if s.experiment == "results-aqsgd")
    df = run_rows({("none", "none"): [(0, 0.74)]}, experiment="results-aqsgd", task="rotten_tomatoes")
    cfg = {**json.loads(df.loc[0, "config_json"]), "epochs": 2, "limit_train": 1200, "limit_val": 800}
    cfg.pop("batch_size")  # the task's default, as the space leaves it
    df.loc[0, "config_json"] = json.dumps({**cfg, "max_length": 48, "lr": 0.0001})
    kept, note = page.current(sec, df)
    assert kept.empty and note.startswith("\n1 finished runs of this experiment trained an earlier setting")
    # today's aqsgd-nlp trains 3 epochs over 800 sentences; an NLP run has no recipe to name
    assert "(rotten_tomatoes: epochs=2, limit_train=1200)" in note and "recipe" not in note
