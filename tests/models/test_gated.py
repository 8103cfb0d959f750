"""AblationGate: output <= input for every input and weight; gradients reach the network."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistmax.models import create_model, list_models
from mnistmax.models.gated import AblationGate

DENOISERS = [n for n in list_models("denoise") if not n.startswith("ablation_")]


def test_every_denoiser_has_a_gated_variant():
    assert {f"ablation_{n}" for n in DENOISERS} <= set(list_models("denoise"))
    gated = create_model("ablation_unet_dae", base_ch=8, num_downs=1)
    assert isinstance(gated, AblationGate) and gated.net.num_downs == 1


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(DENOISERS), seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 20.0))
def test_gated_output_never_exceeds_input(name, seed, scale):
    torch.manual_seed(seed)
    model = create_model(f"ablation_{name}", base_ch=4).eval()
    with torch.no_grad():
        for p in model.parameters():  # random, possibly huge weights
            p.mul_(scale)
        x = torch.rand(3, 1, 28, 28)
        x[0] = (x[0] > 0.8).float()
        out = model(x)
    assert (out <= x).all()


def test_gate_under_bf16_autocast_still_bounded():
    torch.manual_seed(0)
    model = create_model("ablation_conv_dae", base_ch=4)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert (out.float() <= x).all()


def test_gate_passes_gradients_to_the_wrapped_network():
    torch.manual_seed(0)
    model = create_model("ablation_conv_dae", base_ch=4)
    x = torch.ones(2, 1, 28, 28)  # prediction (sigmoid < 1) is the minimum everywhere
    model(x).mean().backward()
    grads = [p.grad for p in model.net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0
