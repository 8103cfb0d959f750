"""A VAE that denoises (`task: denoise`, `vae_conv` / gated `ablation_vae_conv`): the
encoder reads the noisy digit, the ELBO scores the clean one; it encodes, decodes and
samples like a VAE, and sits beside the U-Net in `compare models`."""

import json

import pytest
import torch

import mnistmax.training as training
from mnistmax.errors import ConfigError
from mnistmax.losses.vae import elbo_terms
from mnistmax.models import create_model
from mnistmax.models.gated import GatedVAE
from mnistmax.tasks import build_task
from tests.helpers import TINY_ANY, invoke, tiny_config

VAE = "model={name: vae_conv, latent_dim: 8}"
GATED = "model={name: ablation_vae_conv, latent_dim: 8}"


def test_output_shape_range_and_capabilities():
    task = build_task(tiny_config(VAE))
    out = task.reconstruct(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    assert {"denoise", "encode", "decode", "sample"} <= task.capabilities
    assert task.encode(torch.rand(3, 1, 28, 28)).shape == (3, 8)
    assert task.decode(torch.randn(2, 8)).shape == (2, 1, 28, 28)
    assert "sample" not in build_task(tiny_config()).capabilities  # a U-Net denoiser cannot


def test_gated_output_never_exceeds_the_input():
    torch.manual_seed(0)
    net = create_model("ablation_vae_conv", latent_dim=8)
    assert isinstance(net, GatedVAE) and net.latent_dim == 8
    x = torch.rand(16, 1, 28, 28) * (torch.rand(16, 1, 28, 28) > 0.5)
    assert (net(x) <= x).all()
    logits = torch.randn(16, 1, 28, 28) * 5
    assert (torch.sigmoid(net.gate_logits(logits, x)) <= x.clamp(1e-4, 1) + 1e-6).all()


@pytest.mark.parametrize("model", [VAE, GATED])
def test_the_elbo_falls_on_a_tiny_overfit(digits, model):
    torch.manual_seed(0)
    task = build_task(tiny_config(model, "noise.kind=add_pixels", "data.binarize=true"))
    clean = (digits[:16] > 0.5).float()
    noisy = torch.maximum(clean, (torch.rand_like(clean) < 0.1).float())
    batch = {"noisy": noisy, "clean": clean, "labels": torch.zeros(16)}
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, metrics = task.model_step(batch, "val")  # beta = vae.beta: the full ELBO
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert set(metrics) == {"kl", "nelbo", "psnr"}


def test_the_elbo_scores_the_clean_target_given_the_noisy_input():
    torch.manual_seed(0)
    vae = create_model("vae_conv", latent_dim=4)
    noisy, clean = torch.rand(4, 1, 28, 28), (torch.rand(4, 1, 28, 28) > 0.5).float()
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    own, kl_own = elbo_terms(vae, noisy, g())
    target, kl_target = elbo_terms(vae, noisy, g(), target=clean)
    assert torch.equal(kl_own, kl_target)  # the posterior is q(z | noisy) both ways
    assert not torch.allclose(own, target)


def test_config_keys_follow_the_network():
    with pytest.raises(ConfigError, match=r"train.loss: not used by task denoise \(a VAE denoiser's loss is the ELBO"):
        tiny_config(VAE, "train.loss=l1")
    with pytest.raises(ConfigError, match=r"vae.beta: not used by task denoise \(model unet_dae is not a VAE\)"):
        tiny_config("vae.beta=2.0")
    assert tiny_config(VAE, "vae.beta=0.5").vae.beta == 0.5
    with pytest.raises(ConfigError, match="model.name: 'conv_ae' cannot run task 'denoise'; valid: .*vae_conv"):
        tiny_config("model={name: conv_ae}")


def test_trained_vae_denoiser_samples_and_is_compared_beside_a_unet(tmp_path):
    common = [*TINY_ANY, "train.epochs=1", "viz.enabled=false", "logging.progress=none",
              f"logging.output_dir={tmp_path}",
              "noise.test_sigmas=[0.5]", "noise.eval_kinds=[gaussian]"]
    vae_run = training.train(tiny_config(*common, VAE, "name=vae"), echo=lambda m: None).run_dir
    unet_run = training.train(tiny_config(*common, "model.base_ch=8", "name=unet"), echo=lambda m: None).run_dir
    for run in (vae_run, unet_run):
        assert invoke("eval", run).exit_code == 0
    sampled = invoke("latent", "sample", vae_run, "-n", "8", "--mode", "normal")
    assert sampled.exit_code == 0 and (vae_run / "grids").is_dir()
    refused = invoke("latent", "sample", unet_run)
    assert refused.exit_code != 0 and "needs a run whose task can decode" in refused.output
    compared = invoke("compare", "models", vae_run, unet_run, "-o", tmp_path / "cmp")
    assert compared.exit_code == 0, compared.output
    table = json.loads(next((tmp_path / "cmp").rglob("*.json")).read_text())
    assert {"vae_conv", "unet_dae"} <= set(json.dumps(table).replace('"', " ").split())
