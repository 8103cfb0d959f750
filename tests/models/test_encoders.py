"""Every registered encoder: embedding shape, finite values, gradients, the documented size."""

import pytest
import torch

from mnistmax.models import count_parameters, create_model, list_models

ENCODERS = list_models("encoder")


def test_the_three_encoders_are_registered():
    assert set(ENCODERS) == {"simple_cnn", "resnet_enc", "vit_enc"}


@pytest.mark.parametrize("name", ENCODERS)
def test_embed_shape_finite_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name, embedding_dim=32)
    x = torch.rand(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model.embed(x))
    model.train()
    z = model.embed(x)
    assert z.shape == (4, 32) and torch.isfinite(z).all()
    z.pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_simple_cnn_parameter_count_matches_the_spec():
    assert count_parameters(create_model("simple_cnn", embedding_dim=128)) == 158_592
