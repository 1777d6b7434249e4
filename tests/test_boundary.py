import math

import pytest
import torch

import compression as C
from compression.base import Lazy
from compression.boundary import snr_db


def _through(boundary, x, g):
    x = x.clone().requires_grad_(True)
    y = boundary(x)
    y.backward(g)
    return y.detach(), x.grad


@pytest.mark.parametrize(
    "fwd,bwd",
    [
        ("uniform:b=4", None),
        ("sortquant:b=3,s=2", "uniform:b=6"),
        ("kmeans:b=3,iters=5", "none"),
        ("uniform:b=8", "topk:r=0.3"),
    ],
)
def test_gradient_is_compressed_by_bwd(fwd, bwd):
    torch.manual_seed(0)
    x, g = torch.randn(4, 8, 6), torch.randn(4, 8, 6)
    b = C.Boundary(fwd, bwd)
    y, grad = _through(b, x, g)
    assert torch.equal(y, C.build(fwd).roundtrip(x)[0])
    expect = g if bwd == "none" else C.build(bwd or fwd).roundtrip(g)[0]
    assert torch.equal(grad, expect)
    assert not torch.equal(y, x)
    s = b.stats
    assert s["calls"] == 1 and s["shape"] == [4, 8, 6] and s["numel"] == 192
    assert s["sent_bytes_fwd"] == C.build(fwd).encode(x).nbytes
    assert s["sent_bytes_bwd"] == C.build(bwd or fwd).encode(g).nbytes
    assert b.snr_db("fwd") == pytest.approx(snr_db(x, y))
    b.reset_stats()
    assert b.stats["calls"] == 0 and b.stats["sent_bytes_fwd"] == 0


def test_topk_backward_defaults_to_forward_mask():
    torch.manual_seed(0)
    x, g = torch.randn(10, 10), torch.randn(10, 10)
    b = C.Boundary("topk:r=0.25")
    assert str(b.bwd_spec) == "mask"
    y, grad = _through(b, x, g)
    kept = y != 0
    assert int(kept.sum()) == 25
    assert torch.equal(grad[kept], g[kept]) and bool((grad[~kept] == 0).all())
    header = C.build("none").encode(x).header_nbytes  # 2-D shape, one array
    assert b.stats["sent_bytes_bwd"] == header + 25 * 4  # fp32 values only, positions known
    assert b.stats["sent_bytes_fwd"] == C.build("topk:r=0.25").encode(x).nbytes


def test_stats_accumulate_and_snr_from_energies():
    b = C.Boundary("uniform:b=6", "none")
    xs = [torch.randn(3, 50) * (i + 1) for i in range(3)]
    sig = err = 0.0
    for x in xs:
        y, _ = _through(b, x, torch.ones(3, 50))
        sig += float((x**2).sum())
        err += float(((x - y) ** 2).sum())
    assert b.stats["calls"] == 3
    assert b.stats["sent_bytes_fwd"] == 3 * C.build("uniform:b=6").payload_nbytes((3, 50))
    assert b.stats["sent_bytes_bwd"] == 3 * C.build("none").payload_nbytes((3, 50))
    assert b.snr_db("fwd") == pytest.approx(10 * math.log10(sig / err), abs=1e-4)
    assert float(b.stats["signal_fwd"]) == pytest.approx(sig) and float(b.stats["error_fwd"]) == pytest.approx(err)
    assert b.snr_db("bwd") == 200.0
    assert b.stats["seconds_fwd"] > 0


def test_all_zero_gradient_and_fp16():
    b = C.Boundary("sortquant:b=4,s=2")
    x = torch.randn(8, 16).half()
    y, grad = _through(b, x, torch.zeros(8, 16).half())
    assert grad.dtype == torch.float16 and bool((grad == 0).all())
    assert bool(torch.isfinite(y).all())


def test_non_finite_names_boundary():
    b = C.Boundary("uniform:b=8", name="features.1")
    x = torch.randn(20)
    x[:3] = float("nan")
    with pytest.raises(ValueError, match=r"boundary 'features.1' \(forward.*3 non-finite"):
        b(x)
    b = C.Boundary("uniform:b=8", name="head")
    x = torch.randn(20, requires_grad=True)
    g = torch.randn(20)
    g[0] = float("inf")
    with pytest.raises(ValueError, match=r"boundary 'head' \(backward.*1 non-finite"):
        b(x).backward(g)


def test_bad_boundary_specs():
    with pytest.raises(ValueError, match="mask"):
        C.Boundary("uniform:b=8", "mask")
    with pytest.raises(C.SpecError):
        C.Boundary("uniform:b=99")


@pytest.mark.parametrize("spec", ["uniform:b=8", "sortquant:b=6,s=2", "kmeans:b=4,iters=10", "hadamard:b=4"])
def test_compiled_matches_eager(spec, monkeypatch):
    x = torch.randn(8, 32, 32, 32, generator=torch.Generator().manual_seed(0))
    monkeypatch.setenv("COMPSWEEP_COMPILE", "0")
    eager, bits_e = C.build(spec).roundtrip(x)
    monkeypatch.setenv("COMPSWEEP_COMPILE", "1")
    before = sum(k.calls_compiled for k in Lazy.instances)
    compiled, bits_c = C.build(spec).roundtrip(x)
    assert sum(k.calls_compiled for k in Lazy.instances) > before  # the compiled kernel ran
    assert bits_e == bits_c
    # the same levels: any difference is float rounding of q * step + min, never a level
    step = float(x.max() - x.min()) / 2 ** C.parse_spec(spec).params["b"]
    diff = (eager - compiled).abs()
    assert float(diff.max()) < 1e-3 * step
    assert float((diff > 0).float().mean()) < 0.01


def test_timings_do_not_depend_on_what_ran_before(monkeypatch):
    """One compiled kernel serves every bit width and shape (dynamic shapes): the ninth spec in a
    process runs the same compiled code as the first, and a new batch or sequence length never
    compiles inside a timed step (the trainables leave any step that compiled out of the times)."""
    from torch._dynamo.utils import counters

    from trainables.epoch import compile_events

    monkeypatch.setenv("COMPSWEEP_COMPILE", "1")
    C.build("uniform:b=2").roundtrip(torch.randn(1000))  # the first call may compile
    before = compile_events()
    ok_before, total_before = counters["frames"]["ok"], counters["frames"]["total"]
    compiled_before = sum(k.calls_compiled for k in Lazy.instances)
    for b in range(3, 12):  # eight more specs, four shapes each
        for n in (1000, 1500, 2048, 777):
            x = torch.randn(n)
            y, _ = C.build(f"uniform:b={b}").roundtrip(x)
            monkeypatch.setenv("COMPSWEEP_COMPILE", "0")
            assert torch.allclose(y, C.build(f"uniform:b={b}").roundtrip(x)[0], atol=1e-5)
            monkeypatch.setenv("COMPSWEEP_COMPILE", "1")
    assert compile_events() == before  # nothing compiled again: no history in the timings
    assert counters["frames"]["ok"] - ok_before == counters["frames"]["total"] - total_before  # no eager fallback
    assert sum(k.calls_compiled for k in Lazy.instances) - compiled_before == 36  # compiled code ran each time


def test_the_fraction_of_training_values_that_crossed_compressed():
    import torch

    from compression import Boundary

    x = torch.randn(4, 8, requires_grad=True)
    delta = Boundary("delta:b=3")
    for epoch, expect in ((1, 0.0), (2, 0.5), (3, 2 / 3)):  # the first sighting goes exactly
        delta.set_batch_ids(torch.arange(4))
        delta(x).sum().backward()
        assert delta.compressed_fraction("fwd") == pytest.approx(expect), epoch
    assert delta.compressed_fraction("bwd") == 1.0  # its backward is a direct quantizer
    half = Boundary("delta:b=3")
    half.set_batch_ids(torch.arange(4))
    half(x).sum()
    half.set_batch_ids(torch.tensor([0, 1, 4, 5]))  # two seen, two new
    half(x)
    assert half.compressed_fraction("fwd") == pytest.approx(0.25)  # 2 of 8 rows as deltas
    plain = Boundary("none", "uniform:b=4")
    plain(x).sum().backward()
    assert (plain.compressed_fraction("fwd"), plain.compressed_fraction("bwd")) == (0.0, 1.0)
    with torch.no_grad():  # evaluation crossings are not training crossings
        Boundary("none")(x)
    q = Boundary("uniform:b=8")
    with torch.no_grad():
        q(x)
    assert q.stats["train_values_fwd"] == 0
