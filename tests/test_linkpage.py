"""link-check's records on the page, in docs/link-check.md and the README: every number computed."""

import json

import pytest

import schema
from reports import linkpage
from tests.test_cost import curve, noisy_store


def record(method, link, measured, est, within=True, bwd=None, steady="steady", placement=None):
    cfg = {"task": "fashion_mnist", "batch_size": 64, **({"bwd": bwd} if bwd else {}),
           **({"placement": placement} if placement else {})}  # fmt: skip
    return {"family": "cv", "task": "fashion_mnist", "method": method, "link": link, "schedule": "1f1b",
            "microbatches": 4, "measured_s": measured, "estimated_1f1b_s": est, "measured_over_1f1b": measured / est,
            "serial_s": 2.0, "overlapped_s": 0.1, "within_bounds": within, "unshaped_s": 0.4, "stage_s": [0.1, 0.2],
            "bytes_per_step": 1000, "goodput_mbit": 9.6, "steady": steady, "config": cfg, "date": "2026-12-06",
            "commit": "abc1234", schema.TAG_HOST: "h0"}  # fmt: skip


def test_the_verdict_counts_and_names_every_row_outside():
    off = record("uniform:b=8", "10mbit", 1.2, 1.0, within=False, bwd="uniform:b=4", steady="not steady after 3")
    recs = [record("none", "10mbit", 1.0, 1.0), off, record("topk:r=0.2", "100mbit", 0.95, 1.0)]
    v = linkpage.verdict(recs)
    assert v.startswith("2 of 3 mean steps lie between") and "2 of 3 are within ±10% of the 1F1B estimate" in v
    assert "(outside ±10% there: cv uniform:b=8 bwd=uniform:b=4 at 10mbit 1.20)" in v and "2 of 3 met the steady" in v
    assert "own windows" not in v  # no record kept the compute of its own windows
    recs[1] |= {"measured_over_own": 1.04, "within_bounds_own": True, "serial_own_s": 1.5, "overlapped_own_s": 0.5}
    v = linkpage.verdict(recs)
    assert v.startswith("played from the compute of each link's own windows (kept for 1 of 3 rows), 1 of 1 "
                        "mean steps lie between the pipeline's overlapped and serial bounds and 1 of 1 are within")
    assert "; from the unshaped windows' compute (what a report has), 2 of 3 mean steps lie between" in v
    assert "10mbit 1.20 (1.04 on its own windows' compute)" in v
    assert "| 1.04 (0.500-1.500) |" in linkpage.schedule_table(recs)
    row = "| cv | uniform:b=8 bwd=uniform:b=4 | 10mbit | 1f1b, 4 | 1.200 | (not kept) | 1.000 | 1.20 |"
    assert row in linkpage.schedule_table(recs) and linkpage.schedule_table(recs).splitlines()[2].endswith(" abc1234 |")
    assert "2026-12-06, commit abc1234, host h0; 1f1b, M=4, the task default cuts" in linkpage.provenance(recs)


def test_time_to_target_at_measured_steps_reaches_the_readme_block_and_the_files_between_their_markers(tmp_path):
    df = noisy_store()
    for fwd, v in (("none", [0.69, 0.7]), ("uniform:b=8", [0.6, 0.695]), ("topk:r=0.2", [0.5, 0.6])):
        df.loc[df["fwd"] == fwd, "curve"] = curve([10, 20], v)
    df["experiment"] = "results-x"
    recs = [record("none", "10mbit", 0.8, 0.8), record("uniform:b=8", "10mbit", 0.5, 0.5),
            record("uniform:b=8", "100mbit", 0.45, 0.45), record("none", "100mbit", 0.6, 0.6)]  # fmt: skip
    rows = linkpage.tta_rows(df, recs)
    at10 = next(r for r in rows if r["link"] == "10mbit")
    assert at10["best"] == "uniform:b=8" and at10["experiment"] == "results-x"
    # none reaches its target (0.7 - 1 pt = 0.69) at step 10, uniform:b=8 at step 20
    assert at10["measured_ratio"] == pytest.approx(20 * 0.5 / (10 * 0.8))
    block = linkpage.readme_block(df, recs)
    line = f"- fashion_mnist at 10mbit: `uniform:b=8` (results-x) reaches `none`'s target in {20 * 0.5 / 8:.2f}x"
    assert line in block
    assert "No measured step pairs with a finished row of rotten_tomatoes." in block
    # a record at other cuts pairs with nothing
    assert linkpage.tta_rows(df, [{**r, "config": {**r["config"], "placement": "first:8"}} for r in recs]) == []
    (tmp_path / "docs").mkdir()
    readme, doc = tmp_path / "README.md", tmp_path / "docs" / "link-check.md"
    readme.write_text(f"# x\n\n{linkpage.START}\nold 17 of 21\n{linkpage.END}\n\nafter\n")
    doc.write_text(f"before\n{linkpage.DOC_START}\nold table\n{linkpage.DOC_END}\nafter\n")
    linkpage.update(readme, df, recs)
    assert readme.read_text() == f"# x\n\n{block}\n\nafter\n"
    assert doc.read_text() == f"before\n{linkpage.doc_block(recs)}\nafter\n" and "old table" not in doc.read_text()
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    linkpage.replace_block(plain, block)
    assert plain.read_text() == "no markers\n"


def test_the_committed_readme_and_link_doc_hold_what_the_records_and_runs_make():
    from reports import runs

    results = schema.REPO / "docs" / "results"
    records = linkpage.load(results)
    df = runs.read_csv(results / "runs.csv")
    readme = (schema.REPO / "README.md").read_text()
    block = linkpage.START + readme.split(linkpage.START, 1)[1].split(linkpage.END, 1)[0] + linkpage.END
    assert block == linkpage.readme_block(df, records)
    doc = (schema.REPO / "docs" / "link-check.md").read_text()
    table = linkpage.DOC_START + doc.split(linkpage.DOC_START, 1)[1].split(linkpage.DOC_END, 1)[0] + linkpage.DOC_END
    assert table == linkpage.doc_block(records)
    assert all(json.dumps(r["config"]) for r in records)
