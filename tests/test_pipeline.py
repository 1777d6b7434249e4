"""The real pipeline (one process per stage over TCP, Payload bytes on the wire) trains the
same model as the one-process Boundary run, and link-check refuses in one line what it cannot do."""

import pytest

from benchmarks import link_check
from tests.helpers import write_fashion_mnist


@pytest.fixture(scope="module")
def fm_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("fm"))


@pytest.mark.parametrize(
    "fwd, placement, schedule, m",
    [
        ("none", "first:1,last:1", "gpipe", 2),
        ("uniform:b=8", "first:2", "1f1b", 4),
        ("delta:b=3", "first:1,last:1", "1f1b", 2),
    ],
)
def test_micro_batched_stages_over_loopback_reach_the_gradient_accumulation_loss(fm_root, fwd, placement, schedule, m,
                                                                                 monkeypatch):  # fmt: skip
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = {"task": "fashion_mnist", "root": str(fm_root), "model": "mobilenet_v2", "recipe": "finetune",
           "placement": placement, "fwd": fwd, "epochs": 2, "seed": 3, "limit_train": 64,
           "limit_val": 32, "batch_size": 16}  # fmt: skip
    sim = link_check.simulate(cfg, 6, m)  # 4 steps an epoch: AQ-SGD's second epoch sends deltas
    out = link_check.run_pipeline(cfg, [3, 3], schedule=schedule, microbatches=m, threads=1)
    assert len(out["losses"]) == 6
    for a, b in zip(out["losses"], sim, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert out["bytes"][0] > 0 and (fwd != "delta:b=3" or out["bytes"][1] < out["bytes"][0])
    assert len(out["busy_s"][0]) == len(placement.split(",")) + 1 and min(out["busy_s"][1]) > 0


@pytest.mark.slow
def test_a_learned_bottleneck_sends_its_code_between_stages_and_trains_as_the_one_process_run(fm_root, monkeypatch):
    # the down map runs on the sending stage, the up map on the receiving one, and the R-dim code
    # crosses both ways; each map is stepped by its own stage's optimizer
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = {"task": "fashion_mnist", "root": str(fm_root), "model": "mobilenet_v2", "recipe": "finetune",
           "placement": "first:1,last:1", "fwd": "bottleneck:r=4", "epochs": 2, "seed": 3, "limit_train": 64,
           "limit_val": 32, "batch_size": 16}  # fmt: skip
    out = link_check.run_pipeline(cfg, [3], schedule="1f1b", microbatches=2, threads=1)
    none = link_check.run_pipeline({**cfg, "fwd": "none"}, [3], schedule="1f1b", microbatches=2, threads=1)
    for a, b in zip(out["losses"], link_check.simulate(cfg, 3, 2), strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    # the code: 4 of 24 and 4 of 1280 channels at the two cuts, both ways (plus headers)
    assert out["bytes"][0] < none["bytes"][0] / 5


def test_schedules_run_each_micro_batch_forward_then_backward_in_order():
    from reports.schedule import schedule

    assert schedule("gpipe", 0, 2, 3) == [("F", 0), ("F", 1), ("F", 2), ("B", 0), ("B", 1), ("B", 2)]
    assert schedule("1f1b", 0, 3, 4) == [("F", 0), ("F", 1), ("F", 2), ("B", 0), ("F", 3), ("B", 1), ("B", 2),
                                         ("B", 3)]  # fmt: skip
    assert schedule("1f1b", 2, 3, 4) == [("F", 0), ("B", 0), ("F", 1), ("B", 1), ("F", 2), ("B", 2), ("F", 3),
                                         ("B", 3)]  # fmt: skip
    assert schedule("1f1b", 0, 4, 2) == [("F", 0), ("F", 1), ("B", 0), ("B", 1)]  # fewer micro-batches than stages


def test_a_later_stage_computes_none_of_the_layers_before_its_cut():
    import torch
    from torch import nn

    from benchmarks.pipeline import Prefix

    class Counted(nn.Linear):
        def forward(self, x):
            self.calls = getattr(self, "calls", 0) + 1
            return super().forward(x)

    torch.manual_seed(0)
    model = nn.Sequential(Counted(4, 4), nn.ReLU(), Counted(4, 4), nn.Sequential(Counted(4, 3)))
    prefix, received, n = Prefix(model), torch.randn(5, 4), [5]

    def cut(module, inputs, output):  # the input cut after model[1]: the received activation
        if not prefix.learnt:
            prefix.at_cut(output)
        return received[: n[0]]

    model[1].register_forward_hook(cut)
    first = model(torch.randn(5, 4))
    prefix.install()
    n[0], prefix.current = 3, (3, 4)  # the stage sets it from the payload it received
    again = model(torch.randn(3, 4))  # another batch size: the stubs' values never reach the output
    assert model[0].calls == 1 and model[2].calls == 2 and model[3][0].calls == 2
    assert torch.equal(again, model[3](model[2](received[:3])))
    assert torch.equal(first, model[3](model[2](received)))


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


def test_the_pipelined_step_is_its_schedule_played_out_and_lies_between_its_bounds():
    from reports.link import parse_links, pipeline_bounds, pipeline_s

    (lk,) = parse_links("100mbit+5ms")
    f, b, o = [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]  # per micro-batch, two balanced stages, one cut
    assert pipeline_s("1f1b", f, b, o, [0.0], [0.0], parse_links("1gbit")[0], 4) == pytest.approx((4 + 2 - 1) * 3)
    # the link paces it (5 s each way a micro-batch). GPipe: activations arrive at 6, 11, 16, 21;
    # stage 1 runs F at 6, 11, 16, 21 and its four B from 22 to 30; the gradients leave at 24,
    # 29, 34, 39 and arrive at 29, 34, 39, 44 (plus the latency); stage 0's last B ends at 46
    assert pipeline_s("gpipe", f, b, o, [5.0], [5.0], lk, 4) == pytest.approx(46 + 2 * lk.latency_s * 4, abs=0.05)
    # 1F1B starts each gradient's trip sooner: 37 s without latency (the closed formula's 31 is
    # the fill plus (M - 1) link paces, which misses the round trip stage 0 waits for)
    got = pipeline_s("1f1b", f, b, o, [5.0], [5.0], parse_links("1gbit")[0], 4)
    assert got == pytest.approx(37.0)
    # the optimizer step ends every step on every stage
    assert pipeline_s("1f1b", f, b, [0.5, 0.5], [0.0], [0.0], lk, 4) > pipeline_s("1f1b", f, b, o, [0.0], [0.0], lk, 4)
    stage = [3.0, 3.0]
    serial, overlap = pipeline_bounds(stage, [5.0], [5.0], lk, 4)
    assert serial == pytest.approx(4 * (6 + 10 + 0.01)) and overlap == pytest.approx(4 * 5 + 0.01)
    assert overlap <= pipeline_s("1f1b", f, b, o, [5.0], [5.0], lk, 4) <= serial


def test_the_played_schedule_matches_the_fill_and_pace_where_stages_pace_it_and_refuses_a_bad_shape():
    from reports.schedule import step_s

    # compute-bound, unbalanced: GPipe takes the fill plus (M - 1) of the slowest stage
    f, b = [0.1, 0.3, 0.2], [0.2, 0.6, 0.4]
    fill = sum(f) + sum(b)
    assert step_s("gpipe", f, b, [0, 0, 0], [0, 0], [0, 0], 0.0, 8) == pytest.approx(fill + 7 * 0.9)
    # 1F1B keeps stage 1 busy but for 0.1 s before its first forward and 0.3 s waiting for the first
    # gradient (stage 2's F0 and B0 after stage 1's F1 ends at 0.7), then stage 0's last backward
    assert step_s("1f1b", f, b, [0, 0, 0], [0, 0], [0, 0], 0.0, 8) == pytest.approx(0.1 + 0.3 + 8 * 0.9 + 0.2)
    with pytest.raises(ValueError, match="one wire time a cut"):
        step_s("1f1b", f, b, [0, 0, 0], [0], [0], 0.0, 4)
    with pytest.raises(ValueError, match="schedule 'zb'"):
        step_s("zb", f, b, [0, 0, 0], [0, 0], [0, 0], 0.0, 4)


@pytest.mark.slow
def test_nlp_stages_with_batches_of_varying_length_reach_the_gradient_accumulation_loss(tmp_path, monkeypatch):
    """Rotten Tomatoes pads each batch to its own longest sentence: a later stage's skipped
    layers answer in the arriving activation's shape (the attention mask is sized from them)."""
    import json

    from tests.helpers import tiny_bert_dir

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bert = tiny_bert_dir(tmp_path / "bert")
    conf = json.loads((bert / "config.json").read_text())
    conf |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}  # each stage draws its own masks
    (bert / "config.json").write_text(json.dumps(conf))
    cfg = {"task": "rotten_tomatoes", "model_dir": str(bert), "placement": "first:1", "fwd": "uniform:b=8",
           "epochs": 2, "seed": 1, "limit_train": 32, "limit_val": 16, "batch_size": 8}  # fmt: skip
    sim = link_check.simulate(cfg, 6, 2)
    out = link_check.run_pipeline(cfg, [3, 3], schedule="1f1b", microbatches=2, threads=1)
    assert out["bytes"][0] != out["bytes"][1]  # the lengths differ between batches
    for a, b in zip(out["losses"], sim, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
