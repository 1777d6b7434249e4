import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import compression as C
from compression.payload import pack, unpack
from compression.reference import sortquant_exact
from compression.uniform import levels

SPECS = [
    "none",
    "uniform:b=1",
    "uniform:b=8",
    "uniform:b=13",
    "uniform:b=16",
    "uniform:b=4,group=channel",
    "uniform:b=9,group=block128",
    "uniform:b=6,round=stochastic",
    "uniform:b=4,range=absmax",
    "uniform:b=3,range=absmax,group=channel",
    "uniform:b=5,range=absmax,group=block128",
    "uniform:b=2,range=absmax,round=stochastic",
    "uniform:b=4,clip=99",
    "uniform:b=4,range=absmax,clip=99.5",
    "sortquant:b=3,s=1,clip=99",
    "sortquant:b=6,s=2",
    "sortquant:b=1,s=0",
    "sortquant:b=2,s=8",
    "sortquant:b=12,s=4",
    "sortquant:b=3,s=3,round=stochastic",
    "topk:r=0.5",
    "topk:r=0.01",
    "topk:r=1",
    "kmeans:b=4,iters=20",
    "kmeans:b=8,iters=3",
    "kmeans:b=1,iters=converge",
]


def rt_and_decode(comp, x, seed=0):
    torch.manual_seed(seed)
    x_hat, bits = comp.roundtrip(x)
    torch.manual_seed(seed)
    p = comp.encode(x)
    back = C.Payload.from_bytes(p.to_bytes())
    return x_hat, bits, p, comp.decode(back)


def expected_bits(spec: str, shape) -> int:
    s = C.parse_spec(spec)
    n = math.prod(shape)
    p = s.params
    if s.method == "none":
        return 32 * n
    if s.method == "uniform":
        groups = {"tensor": 1, "channel": shape[1] if len(shape) > 1 else 1, "block128": -(-n // 128)}[p["group"]]
        rows = 1 if p["range"] == "absmax" else 2
        return n * p["b"] + rows * groups * (16 if p["group"] == "block128" else 32)
    if s.method == "sortquant":
        return n * (p["b"] + p["s"]) + 32 * (2 ** p["s"] + 1)
    if s.method == "kmeans":
        return n * p["b"] + 32 * 2 ** p["b"]
    k = min(n, max(1, round(p["r"] * n)))
    return 32 * k + min(n, k * max(1, math.ceil(math.log2(n))))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shape", [(3, 5, 7, 2), (1000,), (2, 300)])
def test_roundtrip_equals_decode_and_exact_bytes(spec, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * 3 + 1
    comp = C.build(spec)
    x_hat, bits, p, y = rt_and_decode(comp, x)
    assert x_hat.shape == x.shape and x_hat.dtype == x.dtype
    assert torch.equal(x_hat, y)
    assert bits == expected_bits(spec, shape)
    raw = p.to_bytes()
    assert p.nbytes == len(raw) == comp.payload_nbytes(shape)
    slack = 8 * p.nbytes - bits - 8 * p.header_nbytes
    assert 0 <= slack < 8 * len(p.arrays)  # only the padding of each packed array
    # the header is small: shape, dtype and a few array descriptors
    assert p.header_nbytes <= 5 + 4 * len(shape) + 5 * 2


@pytest.mark.parametrize("b", [1, 3, 8, 16])
@pytest.mark.parametrize("group", ["tensor", "channel", "block128"])
def test_uniform_error_bound_per_group(b, group):
    x = torch.randn(4, 6, 50) * torch.linspace(0.1, 10, 6).view(1, 6, 1)
    comp = C.build(f"uniform:b={b},group={group}")
    x_hat, _ = comp.roundtrip(x)
    p = comp.encode(x)
    tables = p.arrays[0].float().view(2, -1)
    step = tables[1]
    err = (x - x_hat).abs()
    if group == "tensor":
        bound = step[0] / 2
    elif group == "channel":
        bound = (step / 2).view(1, 6, 1)
    else:
        bound = (step / 2).repeat_interleave(128)[: x.numel()].view(x.shape)
    assert bool((err <= bound * (1 + 1e-5) + 1e-7).all())
    if group == "tensor":  # step is (max - min) / (2^B - 1) exactly
        assert float(step[0]) == pytest.approx(float(x.max() - x.min()) / levels(b), rel=1e-6)


@pytest.mark.parametrize("b,s", [(6, 2), (2, 2), (3, 3), (1, 0), (4, 5)])
def test_sortquant_error_bound_and_groups(b, s):
    x = torch.randn(20000) ** 3
    comp = C.build(f"sortquant:b={b},s={s}")
    x_hat, _ = comp.roundtrip(x)
    edges = comp.encode(x).arrays[0]
    assert edges.numel() == 2**s + 1
    assert float(edges[0]) == float(x.min()) and float(edges[-1]) == float(x.max())
    g = torch.bucketize(x, edges[1:-1])
    step = (edges[1:] - edges[:-1]) / levels(b)
    assert bool(((x - x_hat).abs() <= step[g] / 2 * (1 + 1e-5) + 1e-7).all())
    counts = torch.bincount(g, minlength=2**s)  # equal-count groups (exact quantiles here)
    assert int(counts.max() - counts.min()) <= 1 + 0.001 * x.numel()


@pytest.mark.parametrize("b,s", [(6, 2), (2, 2), (3, 3), (2, 4)])
def test_sortquant_sampled_edges_within_3pct_of_exact_sort(b, s):
    x = torch.randn(300_000, generator=torch.Generator().manual_seed(3))
    x = torch.where(x > 2.5, x * 4, x)  # a heavy right tail
    approx, _ = C.build(f"sortquant:b={b},s={s}").roundtrip(x)
    exact = sortquant_exact(x, b, s)
    mse_a = float(((x - approx) ** 2).mean())
    mse_e = float(((x - exact) ** 2).mean())
    assert mse_a <= 1.03 * mse_e


def test_topk_keeps_largest_and_mask_backward():
    x = torch.randn(1000)
    x_hat, _ = C.build("topk:r=0.2").roundtrip(x)
    kept = x_hat != 0
    assert int(kept.sum()) == 200
    assert float(x.abs()[kept].min()) >= float(x.abs()[~kept].max())
    assert torch.equal(x_hat[kept], x[kept])
    # the paired backward: the gradient at exactly the positions the forward kept, values only
    topk, mask = C.build("topk:r=0.2"), C.build("mask")
    assert topk.default_backward() == "mask" and mask.pairs_with == "topk" and mask.backward_only
    sent, nbytes, saved = topk.send(x)
    assert torch.equal(sent, x_hat) and nbytes == topk.encode(x).nbytes
    g = torch.randn(1000)
    g_hat, g_bytes = mask.send_back(g, saved, (tuple(x.shape), tuple(x.stride())))
    assert torch.equal(g_hat != 0, kept) and torch.equal(g_hat[kept], g[kept])
    assert g_bytes == C.Payload((1000,), torch.float32, [g[kept]]).nbytes  # 200 fp32 values and a header


def test_topk_position_encoding_picks_cheaper():
    comp = C.build("topk:r=0.5")
    n = 4096  # bitmap 4096 bits < 2048 * 12 index bits
    assert comp.bits((n,)) == 32 * 2048 + 4096
    comp = C.build("topk:r=0.01")  # 41 * 12 = 492 index bits < 4096
    assert comp.bits((n,)) == 32 * 41 + 41 * 12


@pytest.mark.parametrize("b,mse", [(2, 0.1175), (3, 0.03455), (4, 0.00950)])
def test_kmeans_converge_reaches_lloyd_max(b, mse):
    x = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0))
    x_hat, _ = C.build(f"kmeans:b={b},iters=converge").roundtrip(x)
    got = float(((x - x_hat) ** 2).mean()) / float(x.var())
    assert got == pytest.approx(mse, rel=0.02)


def test_kmeans_iterations_improve():
    x = torch.randn(100_000) ** 3
    errs = [float(((x - C.build(f"kmeans:b=3,iters={i}").roundtrip(x)[0]) ** 2).mean()) for i in (1, 5, 50)]
    assert errs[0] >= errs[1] >= errs[2]


@pytest.mark.parametrize("spec", ["uniform:b=4,round=stochastic", "sortquant:b=2,s=1,round=stochastic"])
def test_stochastic_rounding_is_unbiased(spec):
    x = torch.rand(2000) * 4 - 2
    comp = C.build(spec)
    torch.manual_seed(0)
    mean = torch.stack([comp.roundtrip(x)[0] for _ in range(2000)]).mean(0)
    step = 4 / levels(C.parse_spec(spec).params["b"])
    assert float((mean - x).abs().max()) < 0.12 * step  # rounding to nearest errs up to 0.5 step
    assert float((mean - x).abs().mean()) < 0.03 * step


@pytest.mark.parametrize("spec", SPECS)
def test_deterministic(spec):
    x = torch.randn(10, 40)
    torch.manual_seed(5)
    a = C.build(spec).roundtrip(x)[0]
    torch.manual_seed(5)
    b = C.build(spec).roundtrip(x)[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(
    "x",
    [
        torch.full((5, 7), 3.25),
        torch.tensor([2.5]),
        torch.zeros(3, 4),
        torch.randn(6, 9).half(),
        torch.randn(6, 9).bfloat16(),
    ],
    ids=["const", "single", "zeros", "fp16", "bf16"],
)
def test_edge_cases_round_trip_without_nan(spec, x):
    x_hat, bits, p, y = rt_and_decode(C.build(spec), x)
    assert x_hat.dtype == x.dtype and x_hat.shape == x.shape
    assert bool(torch.isfinite(x_hat).all())
    assert torch.equal(x_hat, y)
    # a constant tensor is exact (absmax with fp16 block tables rounds its step up: not exact)
    exact = not spec.startswith("topk") and "absmax,group=block128" not in spec
    if x.numel() > 1 and bool((x == x.flatten()[0]).all()) and exact:
        assert torch.equal(x_hat, x)


@pytest.mark.parametrize("spec", [s for s in SPECS if s != "none"])
def test_non_finite_input_raises_with_count(spec):
    x = torch.randn(50)
    x[3] = float("nan")
    x[7] = float("inf")
    with pytest.raises(ValueError, match="2 non-finite"):
        C.build(spec).roundtrip(x)


@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    scale=st.floats(1e-3, 1e4),
    offset=st.floats(-100, 100),
    spec=st.sampled_from(SPECS),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=150, deadline=None)
def test_property_roundtrip_bytes_and_bound(shape, scale, offset, spec, seed):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale + offset
    comp = C.build(spec)
    x_hat, bits, p, y = rt_and_decode(comp, x, seed)
    assert torch.equal(x_hat, y)
    assert bits == expected_bits(spec, shape)
    assert len(p.to_bytes()) == p.nbytes == comp.payload_nbytes(shape)
    m = C.parse_spec(spec)
    if m.method in ("uniform", "sortquant") and m.params["round"] == "nearest" and m.params["clip"] == 100:
        fp32_slack = 1e-6 * float(x.abs().max()) + 1e-6  # float32 rounding of q * step + min
        if m.params.get("range") == "absmax":  # symmetric grid: step = max|x| / (2^(b-1) - 1)
            step = float(x.abs().max()) / (2 ** (m.params["b"] - 1) - 1)
            step *= 1 + 2e-3 if m.params["group"] == "block128" else 1  # fp16 tables round up
        else:
            step = float(x.max() - x.min()) / levels(m.params["b"])
        assert float((x - x_hat).abs().max()) <= step / 2 + fp32_slack


@given(width=st.integers(1, 16), n=st.integers(1, 200), seed=st.integers(0, 99))
@settings(max_examples=80, deadline=None)
def test_pack_unpack(width, n, seed):
    codes = torch.randint(0, 2**width, (n,), generator=torch.Generator().manual_seed(seed))
    packed = pack(codes, width)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(n * width / 8)
    assert torch.equal(unpack(packed, n, width), codes)


BAD_SPECS = [
    ("", "method"),
    ("foo", "method='foo'"),
    ("uniform", "missing required field 'b'"),
    ("uniform:b=0", "b=0"),
    ("uniform:b=17", "[1, 16]"),
    ("uniform:b=x", "uniform: b=x"),
    ("uniform:b=2.5", "integer"),
    ("uniform:b=8,group=row", "tensor, channel, block128"),
    ("uniform:b=8,round=up", "nearest, stochastic"),
    ("uniform:b=8,s=2", "unknown field 's'"),
    ("sortquant:b=6", "'s'"),
    ("sortquant:b=6,s=9", "[0, 8]"),
    ("sortquant:b=12,s=5", "b+s"),
    ("sortquant:b=0,s=2", "b=0"),
    ("topk:r=0", "(0, 1]"),
    ("topk:r=1.5", "(0, 1]"),
    ("topk:r=nan", "(0, 1]"),
    ("topk", "'r'"),
    ("kmeans:b=9", "[1, 8]"),
    ("kmeans:b=4,iters=0", "iters=0"),
    ("kmeans:b=4,iters=many", "iters=many"),
    ("uniform:b", "key=value"),
    ("uniform:b=8,b=4", "twice"),
    ("none:b=3", "unknown field"),
    ({"b": 3}, "method"),
    (42, "string"),
]


@pytest.mark.parametrize("spec,message", BAD_SPECS)
def test_bad_specs(spec, message):
    with pytest.raises(C.SpecError) as e:
        C.build(spec)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_spec_canonical_and_dict():
    assert str(C.parse_spec("sortquant:s=2,b=6,round=nearest")) == "sortquant:b=6,s=2"
    assert str(C.parse_spec("kmeans:b=4")) == "kmeans:b=4"
    assert str(C.parse_spec("uniform:b=4,group=channel")) == "uniform:b=4,group=channel"
    for spec in SPECS:
        assert C.parse_spec(str(C.parse_spec(spec))) == C.parse_spec(spec)
    assert C.parse_spec({"method": "uniform", "b": 8}) == C.parse_spec("uniform:b=8")
