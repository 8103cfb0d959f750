"""Every registered network, found in the registry (timm's test_model_forward / backward): the
output of its family's contract, finite values, and gradients that reach its parameters. A
network registered tomorrow is tested the day it is registered; a new family fails here until
its contract is written below."""

from __future__ import annotations

import pytest
import torch

from mnistmax.models import create_model, get_entry, list_models

B = 3


def _images(t: torch.Tensor, n: int = B) -> None:
    assert t.shape == (n, 1, 28, 28) and torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1


def denoiser(name, net, x):
    out = net(x)
    _images(out)
    if name.startswith("ablation_"):
        assert (out <= x).all()  # a gated denoiser never adds ink
    return out


def autoencoder(name, net, x):
    """A latent code per image (a VAE's posterior mean), decoded back to images."""
    z = net.encode(x)
    z = z[0] if isinstance(z, tuple) else z
    assert z.shape == (B, net.latent_dim) and torch.isfinite(z).all()
    _images(net.decode(z))
    out = net(x)
    _images(out)
    return out


def vae(name, net, x):
    mu, logvar = net.encode(x)
    assert mu.shape == logvar.shape == (B, net.latent_dim)
    _images(net.sample(2, torch.Generator().manual_seed(0)), 2)
    return autoencoder(name, net, x)


def encoder(name, net, x):
    z = net.embed(x)
    assert z.shape == (B, net.embedding_dim) and torch.isfinite(z).all()
    return net(x)


def classifier(name, net, x):
    logits = net(x)
    assert logits.shape == (B, 10) and torch.isfinite(logits).all()
    return logits


CONTRACTS = {"denoise": denoiser, "vae": vae, "autoencoder": autoencoder, "encoder": encoder, "classifier": classifier}


def test_every_family_has_a_contract():
    assert {get_entry(n).family for n in list_models()} <= set(CONTRACTS)


@pytest.mark.parametrize("name", list_models())
def test_forward_contract_and_backward(name):
    torch.manual_seed(0)
    net = create_model(name).train()
    x = torch.rand(B, 1, 28, 28)
    out = CONTRACTS[get_entry(name).family](name, net, x)
    out.float().square().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
