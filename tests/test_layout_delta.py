"""Layouts kept, SNR from energies, the new quantizers (absmax, clip), k-means start, AQ-SGD delta."""

import math

import pytest
import torch
from torch import nn

import compression as C
from compression.boundary import snr_db
from compression.uniform import half_levels

LAYOUT_SPECS = [
    "none",
    "uniform:b=8",
    "uniform:b=4,group=channel",
    "uniform:b=5,group=block128",
    "uniform:b=4,range=absmax",
    "uniform:b=4,range=absmax,group=channel",
    "uniform:b=4,clip=99",
    "sortquant:b=6,s=2",
    "sortquant:b=3,s=1,clip=99.9",
    "topk:r=0.2",
    "kmeans:b=4,iters=20",
]


def _act(shape=(4, 6, 5, 7), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * torch.linspace(0.2, 5, shape[1]).view(1, -1, 1, 1)


@pytest.mark.parametrize("spec", LAYOUT_SPECS)
@pytest.mark.parametrize("shape", [(4, 6, 5, 7), (2, 16, 96, 48)])  # the second one is sampled (> 65536)
def test_channels_last_same_values_and_strides(spec, shape):
    x = _act(shape)
    xl = x.contiguous(memory_format=torch.channels_last)
    comp = C.build(spec)
    y, bits = comp.roundtrip(x)
    yl, bits_l = comp.roundtrip(xl)
    assert bits == bits_l
    assert yl.stride() == xl.stride() and y.stride() == x.stride()
    assert torch.equal(y, yl)
    # the wire format does not depend on the layout either
    assert torch.equal(comp.decode(comp.encode(xl)), y)
    # a non-contiguous (strided) input works and gives the same values as its copy
    xs = x[:, :, ::2]
    assert torch.equal(comp.roundtrip(xs)[0], comp.roundtrip(xs.contiguous())[0])


@pytest.mark.parametrize("fwd", ["uniform:b=8", "sortquant:b=6,s=2", "topk:r=0.2", "kmeans:b=4,iters=20"])
def test_boundary_keeps_channels_last_forward_and_backward(fwd):
    torch.manual_seed(0)
    conv1, conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1)
    conv1, conv2 = conv1.to(memory_format=torch.channels_last), conv2.to(memory_format=torch.channels_last)
    b = C.Boundary(fwd)
    seen = {}
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    h = conv1(x)
    h.register_hook(lambda g: seen.setdefault("grad_before", g))
    y = b(h)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.stride() == h.stride()
    out = conv2(y)
    assert out.is_contiguous(memory_format=torch.channels_last)
    out.square().sum().backward()
    assert seen["grad_before"].stride() == h.stride()
    assert conv1.weight.grad is not None and bool(torch.isfinite(conv1.weight.grad).all())


def test_snr_over_calls_ignores_all_zero_tensor():
    torch.manual_seed(0)
    b = C.Boundary("topk:r=0.2")
    x = torch.randn(64, 32, 4, 4, requires_grad=True)
    b(x).sum().backward()
    first = b.snr_db("fwd")
    assert 3.0 < first < 5.5  # top 20% of a Gaussian by magnitude: about 4 dB
    z = torch.zeros(64, 32, 4, 4, requires_grad=True)
    b(z).sum().backward()
    assert b.snr_db("fwd") == pytest.approx(first)
    assert b.stats["calls"] == 2


def test_absmax_has_exact_zero_and_half_step_error():
    x = torch.randn(5000) * 3
    x[::7] = 0.0
    for b in (2, 3, 4, 8):
        comp = C.build(f"uniform:b={b},range=absmax")
        y, _ = comp.roundtrip(x)
        step = float(x.abs().max()) / half_levels(b)
        assert bool((y[::7] == 0).all())  # zeros stay exactly zero
        assert float((x - y).abs().max()) <= step / 2 * (1 + 1e-5)
        codes = torch.unique(y) / step  # integers in -L..L: a symmetric grid through zero
        assert bool((codes - codes.round()).abs().max() < 1e-4)
        assert float(codes.abs().max()) <= half_levels(b) + 1e-4
    # min-max at the same bits maps zeros off zero (the rounding bias the study hit)
    y, _ = C.build("uniform:b=4").roundtrip(x)
    assert float(y[::7].abs().min()) > 0


@pytest.mark.parametrize("rng", ["minmax", "absmax"])
def test_clip_keeps_the_bulk_when_one_outlier_is_huge(rng):
    x = torch.randn(20000, generator=torch.Generator().manual_seed(0))
    x[123] = 1e4
    plain, _ = C.build(f"uniform:b=4,range={rng}").roundtrip(x)
    clipped, _ = C.build(f"uniform:b=4,range={rng},clip=99.9").roundtrip(x)
    bulk = torch.ones_like(x, dtype=torch.bool)
    bulk[123] = False
    assert snr_db(x[bulk], plain[bulk]) < 1.0  # the outlier's range wipes the bulk out
    assert snr_db(x[bulk], clipped[bulk]) > 15.0
    sq, _ = C.build("sortquant:b=3,s=1,clip=99.9").roundtrip(x)
    assert snr_db(x[bulk], sq[bulk]) > 12.0


def test_clip_uses_the_sampled_percentiles():
    x = torch.randn(300_000, generator=torch.Generator().manual_seed(1))
    comp = C.build("uniform:b=6,clip=99")
    lo, step = comp.encode(x).arrays[0].view(2)
    hi = float(lo) + float(step) * 63
    assert float(lo) == pytest.approx(float(torch.quantile(x[:65536], 0.01)), abs=0.05)
    assert hi == pytest.approx(float(torch.quantile(x[:65536], 0.99)), abs=0.05)


def test_kmeans_uses_its_codes_on_a_point_mass():
    g = torch.Generator().manual_seed(0)
    x = (2 * torch.randn(200_000, generator=g)).clamp(0, 6)
    x[torch.rand(200_000, generator=g) < 0.8] = 0.0  # about 90% zeros
    y, _ = C.build("kmeans:b=4,iters=20").roundtrip(x)
    u, _ = C.build("uniform:b=4").roundtrip(x)
    assert torch.unique(y).numel() >= 15
    assert snr_db(x, y) >= snr_db(x, u)


# ------------------------------------------------------------------------ AQ-SGD delta
def test_delta_spec_defaults_and_refusals():
    b = C.Boundary("delta:b=3")
    assert str(b.bwd_spec) == "uniform:b=8"
    with pytest.raises(ValueError, match="forward only"):
        C.Boundary("uniform:b=8", "delta:b=3")
    with pytest.raises(C.SpecError, match="b=1"):
        C.parse_spec("delta:b=1")
    x = torch.randn(4, 10, requires_grad=True)
    with pytest.raises(ValueError, match="set_batch_ids"):
        b(x)


def test_delta_first_sighting_exact_then_delta_bits():
    torch.manual_seed(0)
    b = C.Boundary("delta:b=3,buffer=fp32", "none")
    base = torch.randn(8, 6, 50)
    ids = torch.arange(8) * 3
    b.set_batch_ids(ids)
    x1 = base.clone().requires_grad_(True)
    y1 = b(x1)
    assert torch.equal(y1, base)  # first sighting: exact
    first = b.stats["sent_bytes_fwd"]
    assert first == C.build("delta:b=3").nbytes_ids(base.shape, 0)
    assert first > 4 * base.numel()
    # a small change: the delta quantizer's error is relative to the change, not the value
    x2 = base + 0.01 * torch.randn_like(base)
    b.reset_stats()
    b.set_batch_ids(ids)
    y2 = b(x2.clone().requires_grad_(True))
    direct, _ = C.build("uniform:b=3,range=absmax").roundtrip(x2)
    assert snr_db(x2, y2) > snr_db(x2, direct) + 25
    bits = 8 * b.stats["sent_bytes_fwd"]
    assert 3 * base.numel() <= bits <= 3 * base.numel() + 8 * (64 + 4 * 8 + 4)
    # eval (no grad): the direct quantizer of the same bits, counted as such
    with torch.no_grad():
        y3 = b(x2)
    assert torch.equal(y3, direct)


def test_delta_two_ends_agree_through_the_wire():
    torch.manual_seed(1)
    sender, receiver, path = C.build("delta:b=4"), C.build("delta:b=4"), C.build("delta:b=4")
    for step in range(4):
        ids = torch.randperm(12)[:5]
        x = torch.randn(5, 3, 7) + step * 0.1
        p = sender.encode_ids(x, ids)
        back = C.Payload.from_bytes(p.to_bytes())
        n_seen = 0 if path.seen is None or path.seen.numel() <= int(ids.max()) else int(path.seen[ids].sum())
        assert p.nbytes == len(p.to_bytes()) == path.nbytes_ids(x.shape, n_seen)
        got = receiver.decode_ids(back)
        want, nbytes = path.roundtrip_ids(x, ids)
        assert nbytes == p.nbytes
        assert torch.equal(got, want)
    assert torch.equal(sender.buf, receiver.buf)


def test_delta_buffers_travel_with_state_dict():
    torch.manual_seed(0)
    a = C.Boundary("delta:b=2")
    ids = torch.arange(6)
    x = torch.randn(6, 4, 5)
    for _ in range(2):
        a.set_batch_ids(ids)
        a(x.clone().requires_grad_(True))
    state = a.state_dict()
    b = C.Boundary("delta:b=2")
    b.load_state_dict(state)
    assert torch.equal(b.fwd.buf, a.fwd.buf) and torch.equal(b.fwd.seen, a.fwd.seen)
    x2 = x + 0.1
    a.set_batch_ids(ids)
    b.set_batch_ids(ids)
    assert torch.equal(a(x2.clone().requires_grad_(True)), b(x2.clone().requires_grad_(True)))
    assert a.stats["buffer_bytes"] == 6 * 20 * 2  # fp16 rows for the examples seen


def test_delta_grows_rows_for_longer_sequences():
    d = C.build("delta:b=4")
    d.roundtrip_ids(torch.randn(2, 5, 8), torch.tensor([0, 1]))
    y, _ = d.roundtrip_ids(torch.randn(2, 9, 8), torch.tensor([1, 3]))
    assert d.buf.shape[1:] == (9, 8) and y.shape == (2, 9, 8)
    assert bool(d.seen[torch.tensor([0, 1, 3])].all()) and not bool(d.seen[2])
    assert math.isfinite(float(y.sum()))
