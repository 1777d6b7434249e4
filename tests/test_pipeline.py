"""The real pipeline (one process per stage over TCP, Payload bytes on the wire) trains the
same model as the one-process Boundary run, and link-check refuses in one line what it cannot do."""

import pytest

from benchmarks import link_check
from tests.helpers import write_fashion_mnist


@pytest.fixture(scope="module")
def fm_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("fm"))


@pytest.mark.parametrize("fwd", ["none", "uniform:b=8", "delta:b=3"])
def test_three_stages_over_loopback_reach_the_simulations_loss(fm_root, fwd, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = {"task": "fashion_mnist", "root": str(fm_root), "model": "mobilenet_v2", "recipe": "finetune",
           "placement": "first:1,last:1", "fwd": fwd, "epochs": 2, "seed": 3, "limit_train": 64,
           "limit_val": 32, "batch_size": 16}  # fmt: skip
    sim = link_check.simulate(cfg, 6)  # 4 steps an epoch: AQ-SGD's second epoch sends deltas
    out = link_check.run_pipeline(cfg, [3, 3])
    assert len(out["losses"]) == 6
    for a, b in zip(out["losses"], sim, strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    assert out["bytes"][0] > 0 and (fwd != "delta:b=3" or out["bytes"][1] < out["bytes"][0])


def test_link_check_says_what_is_missing(monkeypatch):
    monkeypatch.delenv(link_check.INSIDE, raising=False)
    from benchmarks import netshape

    monkeypatch.setattr(netshape.os, "geteuid", lambda: 1000)
    assert "needs root" in link_check.missing_tools()
    monkeypatch.setattr(netshape.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netshape.shutil, "which", lambda t: None if t == "tc" else "/usr/bin/" + t)
    assert "no `tc` on PATH" in link_check.missing_tools()
    assert link_check.main([], [], ["none"], ["cv"], 1, "md") == 2


def test_link_check_bounds_are_reports_link_model():
    from reports.link import parse_links

    slow, fast = parse_links("100mbit+5ms,1gbit")
    # the README's cv none row: 0.459 s unshaped, 4849768 bytes a step, two cuts
    serial, overlap = link_check.bounds(0.459, 4849768, slow, 2)
    assert serial == pytest.approx(0.459 + 4849768 * 8 / 1e8 + 2 * 0.005 * 2)
    assert overlap == pytest.approx(max(0.459, 4849768 * 8 / 1e8) + 0.02)
    row = {"measured_s": 0.773, "estimated_s": serial, "estimated_overlap_s": overlap}
    assert link_check.between(row) and not link_check.between({**row, "measured_s": 0.40})
    assert link_check.bounds(0.459, 4849768, fast, 2)[0] == pytest.approx(0.459 + 4849768 * 8 / 1e9)
