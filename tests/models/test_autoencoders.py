"""conv_ae and vae_conv: shapes, overfitting, the VAE's bounds."""

import pytest
import torch

from mnistmax.losses.vae import elbo_terms, gaussian_kl, importance_weighted_bound
from mnistmax.models import count_parameters, create_model
from mnistmax.tasks import build_task, load_config


@pytest.mark.parametrize("name", ["conv_ae", "vae_conv"])
@pytest.mark.parametrize("latent_dim", [2, 12, 32])
def test_encode_decode_shapes(name, latent_dim):
    model = create_model(name, latent_dim=latent_dim)
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    z = z[0] if isinstance(z, tuple) else z
    assert z.shape == (5, latent_dim)
    out = model.decode(z)
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert model.reconstruct(x).shape == x.shape


def test_conv_ae_compresses_784_to_12():
    model = create_model("conv_ae")
    assert model.latent_dim == 12 and model.encode(torch.rand(2, 1, 28, 28)).shape == (2, 12)  # 784 -> 12
    assert model.encoder[-1].in_features == 1024  # Conv16 -> Conv32 -> Conv64 at 4x4 = 1024
    assert count_parameters(model) == 72_461


@pytest.mark.parametrize("task, name", [("autoencoder", "conv_ae"), ("vae", "vae_conv")])
def test_reconstruction_loss_falls_on_a_small_batch(digits, task, name):
    torch.manual_seed(0)
    warmup = ["vae.kl_warmup_epochs=0"] if task == "vae" else []  # a key only the VAE uses
    t = build_task(load_config(None, [f"task={task}", f"model.name={name}", *warmup]))
    batch = {"images": digits[:16], "labels": torch.zeros(16, dtype=torch.long)}
    opt = torch.optim.Adam(t.parameters(), lr=3e-3)
    first = t.model_step(batch, "train")[0].item()
    for _ in range(120):
        loss, _ = t.model_step(batch, "train")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_kl_is_non_negative_and_zero_at_the_prior():
    mu, logvar = torch.randn(50, 8) * 3, torch.randn(50, 8)
    assert (gaussian_kl(mu, logvar) >= 0).all()
    assert gaussian_kl(torch.zeros(3, 8), torch.zeros(3, 8)).abs().max() < 1e-6


def test_importance_weighted_bound_is_no_looser_than_the_elbo(digits):
    torch.manual_seed(0)
    vae = create_model("vae_conv", latent_dim=8).eval()
    x = digits[:32]
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        elbo = torch.stack([(lambda t: t[0] - t[1])(elbo_terms(vae, x, g)) for _ in range(20)]).mean(0)
        iwae = importance_weighted_bound(vae, x, k=50, generator=g)
    assert iwae.mean() >= elbo.mean()
    assert torch.isfinite(iwae).all()
