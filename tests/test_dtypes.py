"""Every compressor at fp32, bf16 and fp16: the wire format agrees with the fast path, bytes are
exact, and what comes back has the input's dtype and strides; the uncompressed baseline counts
the tensor's own element size."""

import pytest
import torch

import compression as C

SPECS = [
    "none",
    "uniform:b=8",
    "uniform:b=4,range=absmax,round=stochastic",
    "uniform:b=6,group=channel",
    "uniform:b=8,group=block128",
    "uniform:b=4,clip=99.9",
    "sortquant:b=2,s=2",
    "topk:r=0.2",
    "kmeans:b=3",
]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("spec", SPECS)
def test_roundtrip_equals_decode_of_encode_at_every_dtype(spec, dtype):
    g = torch.Generator().manual_seed(0)
    layout = torch.contiguous_format if "stochastic" in spec else torch.channels_last  # draws follow memory order
    x = torch.randn(4, 6, 5, 5, generator=g).to(dtype).contiguous(memory_format=layout)
    comp = C.build(spec)
    torch.manual_seed(1)
    fast, _ = comp.roundtrip(x)
    torch.manual_seed(1)
    p = comp.encode(x)
    wire = comp.decode(C.Payload.from_bytes(p.to_bytes()))
    assert fast.dtype == dtype and wire.dtype == dtype and p.dtype == dtype
    assert fast.stride() == x.stride()  # the layout the layers after the cut expect
    assert torch.equal(fast, wire.contiguous(memory_format=layout))
    expect = comp.payload_nbytes(x.shape, dtype) if spec == "none" else comp.payload_nbytes(x.shape)
    assert p.nbytes == len(p.to_bytes()) == expect


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_uncompressed_bytes_are_the_dtypes_own(dtype):
    x = torch.randn(8, 16).to(dtype)
    b = C.Boundary("none")
    y = b(x.requires_grad_())
    y.sum().backward()
    size = torch.empty((), dtype=dtype).element_size()
    assert b.stats["sent_bytes_fwd"] == C.build("none").encode(x).nbytes == C.Payload((8, 16), dtype, [x]).nbytes
    assert b.stats["raw_bytes_fwd"] == 128 * size and b.stats["raw_bytes_bwd"] == 128 * size


def test_quantized_ratio_is_against_the_dtypes_baseline():
    """8-bit codes are a quarter of fp32 and a half of bf16 (plus the tables)."""
    ratios = {}
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(64, 32, 8, 8).to(dtype)
        b = C.Boundary("uniform:b=8")
        b(x.requires_grad_()).sum().backward()
        s = b.stats
        ratios[dtype] = (s["sent_bytes_fwd"] + s["sent_bytes_bwd"]) / (s["raw_bytes_fwd"] + s["raw_bytes_bwd"])
    assert ratios[torch.float32] == pytest.approx(0.25, rel=0.01)
    assert ratios[torch.bfloat16] == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_delta_at_half_precision_keeps_dtype_and_agrees_with_its_wire(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 16, generator=g).to(dtype)
    ids = torch.tensor([3, 1, 0, 2])
    sim, send, recv = C.build("delta:b=4"), C.build("delta:b=4"), C.build("delta:b=4")
    for step in range(3):
        xs = (x + 0.1 * step).to(dtype)
        out, nbytes = sim.roundtrip_ids(xs, ids)
        p = send.encode_ids(xs, ids)
        back = recv.decode_ids(C.Payload.from_bytes(p.to_bytes()))
        assert out.dtype == dtype and back.dtype == dtype and nbytes == p.nbytes
        assert torch.equal(out, back)
