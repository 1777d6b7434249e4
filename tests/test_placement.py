import pytest
import torch
from torchvision.models import mobilenet_v2
from transformers import RobertaConfig, RobertaForSequenceClassification

from trainables import placement


def _capture(boundaries):
    seen = []
    for b in boundaries:
        b.register_forward_hook(lambda m, i, o, seen=seen, name=b.name: seen.append((name, list(o.shape))))
    return seen


def test_mobilenet_first1_last1_shapes_224():
    model = mobilenet_v2(num_classes=10).eval()
    bs = placement.attach(model, "first:1,last:1", "uniform:b=8")
    seen = _capture(bs)
    with torch.no_grad():
        model(torch.randn(2, 3, 224, 224))
    assert seen == [("features.0", [2, 32, 112, 112]), ("features.18", [2, 1280, 7, 7])]


def test_after_module_path_and_detach():
    model = mobilenet_v2(num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    bs = placement.attach(model, "after:features.0.1", "uniform:b=2")
    assert [b.name for b in bs] == ["features.0.1"]
    with torch.no_grad():
        changed = model(x)
    assert float((changed - ref).abs().max()) > 0.01 * float(ref.abs().max())
    placement.detach(bs)
    with torch.no_grad():
        assert torch.equal(model(x), ref)


def tiny_roberta():
    cfg = RobertaConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=40,
        num_labels=2,
    )
    torch.manual_seed(0)
    return RobertaForSequenceClassification(cfg)


def test_roberta_first1_last2_cuts_hidden_states_and_grads():
    model = tiny_roberta()
    ids = torch.randint(3, 100, (3, 12))
    model.eval()
    ref = model(input_ids=ids).logits
    model.zero_grad()
    model(input_ids=ids).logits.sum().backward()
    grad_ref = model.roberta.embeddings.word_embeddings.weight.grad.clone()

    bs = placement.attach(model, "first:1,last:2", "uniform:b=3")
    assert [b.name for b in bs] == ["roberta.encoder.layer.0", "roberta.encoder.layer.2"]
    seen = _capture(bs)
    model.zero_grad()
    out = model(input_ids=ids).logits
    out.sum().backward()
    assert seen == [("roberta.encoder.layer.0", [3, 12, 16]), ("roberta.encoder.layer.2", [3, 12, 16])]
    assert not torch.allclose(out, ref)  # forward values changed
    grad = model.roberta.embeddings.word_embeddings.weight.grad
    assert not torch.allclose(grad, grad_ref)  # gradients reaching earlier layers changed
    assert all(b.stats["bwd_calls"] == 1 for b in bs)


def test_last_only_and_first_only():
    model = tiny_roberta()
    assert [c.name for c in placement.resolve(model, "last:2")] == ["roberta.encoder.layer.2"]
    assert [c.name for c in placement.resolve(model, "first:2")] == ["roberta.encoder.layer.1"]


@pytest.mark.parametrize(
    "p,msg",
    [
        ("first:0", r"1\.\.4"),
        ("last:5", r"1\.\.4"),
        ("first:3,last:2", "overlap"),
        ("first:1,first:2", "at most once"),
        ("middle:2", "not understood"),
        ("after:roberta.encoder.layr.0", "close: roberta.encoder.layer.0"),
        ("", "first:K"),
    ],
)
def test_bad_placements(p, msg):
    with pytest.raises(ValueError, match=msg):
        placement.resolve(tiny_roberta(), p)
