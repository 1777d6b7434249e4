"""The compressors the field uses since the study: FP8, rotated low-bit tiles (Hadamard), low rank
(warm-started power iteration) and a learned bottleneck. Exact bytes, decode(encode) equal to the
training path, fp32 / bf16 / fp16 in and out, layouts kept, and error bounds."""

import copy
import math

import pytest
import torch

import compression as C
import trainables
from compression.boundary import snr_db
from compression.hadamard import fwht, swap
from tests.helpers import write_fashion_mnist
from tests.test_trainables import cv_config

NEW = ["fp8", "fp8:fmt=e5m2", "fp8:scale=block128", "fp8:fmt=e5m2,scale=block128", "hadamard:b=4",
       "hadamard:b=3,tile=16", "hadamard:b=2,rotate=all", "lowrank:r=3", "bottleneck:r=4,b=8"]  # fmt: skip


@pytest.fixture(scope="module")
def fm_root(tmp_path_factory):
    return write_fashion_mnist(tmp_path_factory.mktemp("fm"))


def roundtrip_and_wire(spec, x):
    sender = C.build(spec)
    receiver, twin = copy.deepcopy(sender), copy.deepcopy(sender)  # the same state at both ends
    x_hat, bits = sender.roundtrip(x)
    p = twin.encode(x)
    back = receiver.decode(C.Payload.from_bytes(p.to_bytes()))
    return x_hat, bits, p, back, sender


@pytest.mark.parametrize("spec", NEW)
@pytest.mark.parametrize("shape", [(3, 64, 5, 2), (3, 64, 5, 2, "channels_last"), (4, 9, 32), (2, 48)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_decode_of_encode_is_the_training_path_with_exact_bytes(spec, shape, dtype):
    x = (torch.randn(shape[:4], generator=torch.Generator().manual_seed(1)) * 3 + 0.5).to(dtype)
    if "channels_last" in shape:
        x = x.contiguous(memory_format=torch.channels_last)
    x_hat, bits, p, back, comp = roundtrip_and_wire(spec, x)
    assert x_hat.dtype == dtype and x_hat.shape == x.shape and x_hat.stride() == x.stride()
    assert torch.equal(back.contiguous(), x_hat.contiguous())
    assert p.nbytes == len(p.to_bytes()) == comp.payload_nbytes(x.shape)
    assert 0 <= 8 * (p.nbytes - p.header_nbytes) - bits < 8 * len(p.arrays)  # side data counted, padding only


def test_fp8_error_is_the_formats_relative_precision():
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    for fmt, mantissa in (("e4m3", 3), ("e5m2", 2)):
        for scale in ("tensor", "block128"):
            x_hat, bits = C.build(f"fp8:fmt={fmt},scale={scale}").roundtrip(x)
            big = x.abs() > 1e-2 * x.abs().max()  # normal numbers of the format: relative error <= 2^-(m+1)
            rel = ((x_hat - x).abs() / x.abs())[big]
            assert float(rel.max()) <= 2.0 ** -(mantissa + 1) + 1e-6, (fmt, scale)
            groups = 1 if scale == "tensor" else math.ceil(x.numel() / 128)
            assert bits == 8 * x.numel() + 32 * groups
    assert str(C.Boundary("fp8").bwd_spec) == "fp8:fmt=e5m2"  # Transformer Engine's HYBRID
    assert str(C.Boundary("fp8:scale=block128").bwd_spec) == "fp8:fmt=e5m2,scale=block128"


def test_fwht_is_orthonormal_and_its_own_inverse_and_the_swap_an_involution():
    v = torch.randn(7, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(fwht(fwht(v)), v, atol=1e-5)
    assert torch.allclose(fwht(v).norm(dim=1), v.norm(dim=1), atol=1e-4)
    e0 = torch.zeros(1, 64)
    e0[0, 0] = 1
    assert torch.allclose(fwht(e0), torch.full((1, 64), 1 / 8))  # the pivot position spreads as a constant
    pivot = torch.tensor([0, 5, 63, 1, 2, 3, 4])
    assert torch.equal(swap(swap(v, pivot), pivot), v)


def test_hadamard_beats_absmax_at_equal_bits_on_outlier_tiles_and_is_bounded():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 128, 4, 4, generator=g)
    x[:, 7] *= 40  # an outlier channel: every 64-wide tile holding it has one huge value
    x = x.contiguous(memory_format=torch.channels_last)
    for b in (3, 4):
        had, _ = C.build(f"hadamard:b={b}").roundtrip(x)
        ref, _ = C.build(f"uniform:b={b},range=absmax").roundtrip(x)
        assert snr_db(x, had) > snr_db(x, ref) + 10, b
    # no rotation (no outlier): a tile's error is at most half its step
    y = torch.rand(8, 64, 3, 3, generator=g)
    y_hat, _ = C.build("hadamard:b=4").roundtrip(y)
    tiles = y.movedim(1, -1).reshape(-1, 64)
    step = (tiles.amax(1) - tiles.amin(1)) / 15
    err = (y_hat - y).abs().movedim(1, -1).reshape(-1, 64).amax(1)
    assert bool((err <= step * 0.5 * 1.01 + 1e-3).all())


def test_lowrank_recovers_a_low_rank_tensor_and_keeps_its_warm_start():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(200, 3, generator=g) @ torch.randn(3, 40, generator=g)  # rank 3
    x = m.reshape(8, 25, 40)
    comp = C.build("lowrank:r=3")
    x_hat, bits = comp.roundtrip(x)
    assert float((x_hat - x).abs().max()) < 1e-3 * float(x.abs().max())
    assert bits == 32 * 3 * (200 + 40)
    q = comp.state()["q"].clone()
    b = C.Boundary("lowrank:r=2")
    b.load_state_dict(C.Boundary("lowrank:r=2").state_dict())  # nothing kept yet: loads
    z = torch.randn(4, 6, 3, 3, requires_grad=True)
    b(z).sum().backward()
    saved = b.state_dict()
    fresh = C.Boundary("lowrank:r=2")
    fresh.load_state_dict(saved)  # the warm starts travel with a checkpoint
    assert torch.equal(fresh.fwd.q, b.fwd.q) and torch.equal(fresh.bwd.q, b.bwd.q)
    assert q.shape == (40, 3)


def test_the_bottleneck_trains_with_the_model_and_its_gradient_crosses_in_r_dims(fm_root):
    b = C.Boundary("bottleneck:r=4,b=8")
    x = torch.randn(2, 16, 5, 5, requires_grad=True).contiguous(memory_format=torch.channels_last)
    y = b(x)
    assert y.shape == x.shape and y.stride() == x.stride()
    y.square().sum().backward()
    code = C.build("uniform:b=8,range=absmax").payload_nbytes((2, 4, 5, 5))
    assert b.stats["sent_bytes_fwd"] == b.stats["sent_bytes_bwd"] == code  # both ways in the R dims
    assert b.stats["raw_bytes_fwd"] == 4 * x.numel()  # against sending x uncompressed
    assert b.down.weight.grad is not None and b.up.weight.grad is not None
    # two parameters of their own (QR's column-major Q once made up a view of down: one tied map)
    assert b.down.weight.untyped_storage().data_ptr() != b.up.weight.untyped_storage().data_ptr()
    assert torch.equal(b.down.weight.detach().T, b.up.weight.detach())  # starting as a basis and its transpose
    torch.optim.SGD([b.up.weight], lr=0.1).step()
    assert not torch.equal(b.down.weight.detach().T, b.up.weight.detach())  # stepping up leaves down as it was
    # in a run: the maps join the optimizer (they change) and the checkpoint (the boundary's state)
    from trainables import cv

    loop = cv.loop(cv_config(fm_root, fwd="bottleneck:r=8,b=8", bwd=None, epochs=1))
    learned = [p for bd in loop.boundaries for p in bd.parameters()]
    assert learned and all(any(p is q for g in loop.optimizer.param_groups for q in g["params"]) for p in learned)
    before = [p.detach().clone() for p in learned]
    out = trainables.common.fit(loop, lambda m: None)
    assert all(not torch.equal(a, p.detach()) for a, p in zip(before, learned, strict=True))
    assert out["ratio"] < 0.1 and math.isfinite(out["train_loss"])


def test_fp8_training_path_rounds_to_the_same_bits_as_torchs_cast():
    """The roundtrip rounds in fp32 (one vectorized pass); the wire casts to torch's float8 dtypes.
    Over magnitudes from subnormal to the format's max, ties and signed zeros, they agree exactly."""
    from compression.fp8 import FORMATS, GRID, _on_grid

    g = torch.Generator().manual_seed(0)
    for fmt, (dtype, fmax) in FORMATS.items():
        ulp, sub = GRID[fmt]
        mantissa = -int(math.log2(ulp))
        v = torch.randn(400_000, generator=g) * 2.0 ** torch.randint(-22, 17, (400_000,), generator=g).float()
        k = torch.arange(-64, 65, dtype=torch.float32)
        ties = torch.cat([(k + 0.5) * sub, (1 + (k.abs() + 0.5) / 2**mantissa) * 2.0 ** (k % 16 - 8)])
        v = torch.cat([v, ties, torch.tensor([0.0, -0.0, fmax, -fmax, sub, -sub / 2])]).clamp(-fmax, fmax)
        ref = v.to(dtype).to(torch.float32)
        got = _on_grid(v, ulp, sub)
        assert torch.equal(got, ref) and torch.equal(got.signbit(), ref.signbit()), fmt


@pytest.mark.parametrize("spec", ["fp8:fmt=e4m3", "fp8:fmt=e5m2", "hadamard:b=4", "hadamard:b=3,rotate=all"])
def test_the_compiled_training_path_is_the_wire(spec, monkeypatch):
    """With the fused kernels compiled (as in a real run), the roundtrip still equals
    decode(encode(x)), which runs eager: a contiguous [B,C,H,W] cut with outlier tiles."""
    from compression.base import Lazy

    x = torch.randn(4, 128, 6, 6, generator=torch.Generator().manual_seed(0)) * 2 + 0.3
    x[:, 5] *= 30
    monkeypatch.setenv("COMPSWEEP_COMPILE", "1")
    before = sum(k.calls_compiled for k in Lazy.instances)
    x_hat, _, _, back, _ = roundtrip_and_wire(spec, x)
    assert sum(k.calls_compiled for k in Lazy.instances) > before
    assert torch.equal(back, x_hat)
