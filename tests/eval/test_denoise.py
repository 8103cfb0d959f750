"""evaluate_methods: numbers that do not depend on how the model's forward pass is sliced."""

from __future__ import annotations

import torch

from mnistmax.eval.denoise import evaluate_methods
from mnistmax.eval.draws import in_chunks
from mnistmax.models.dae import ConvDAE
from mnistmax.tasks import load_config


def test_in_chunks_gives_the_unsliced_output_and_calls_per_slice():
    calls = []

    def method(x):
        calls.append(len(x))
        return x * 2 + x.mean(dim=(1, 2, 3), keepdim=True)  # per-image: slicing must not change it

    x = torch.rand(7, 1, 28, 28)
    assert torch.equal(in_chunks(method, 3)(x), method(x))
    assert calls == [3, 3, 1, 7]
    assert in_chunks(method, None) is method
    calls.clear()
    in_chunks(method, 10)(x)
    assert calls == [7]  # a batch no larger than the chunk is passed whole


def test_eval_rows_equal_with_and_without_cpu_chunks(monkeypatch):
    """The chunk only slices the forward pass: noise and metrics keep eval.batch_size."""
    import mnistmax.eval.denoise as evaluate

    cfg = load_config(None, ["eval.batch_size=40", "noise.test_sigmas=[0.3]", "noise.eval_kinds=[gaussian]"])
    torch.manual_seed(0)
    net = ConvDAE(base_ch=4).eval()
    images = (torch.rand(100, 28, 28) * 255).to(torch.uint8)
    with torch.no_grad():
        whole = evaluate_methods({"net": net}, images, cfg)
        monkeypatch.setattr(evaluate, "CPU_FORWARD_CHUNK", 16)
        sliced = evaluate_methods({"net": net}, images, cfg)
    assert whole[0]["n"] == 100
    for key in ("mse", "psnr", "ssim"):
        assert abs(whole[0][key] - sliced[0][key]) < 1e-5 * max(1.0, abs(whole[0][key]))


def test_each_row_has_the_95_percent_interval_of_its_psnr_over_the_test_images():
    cfg = load_config(None, ["eval.batch_size=40", "noise.test_sigmas=[0.3]", "noise.eval_kinds=[gaussian]"])
    torch.manual_seed(0)
    net = ConvDAE(base_ch=4).eval()
    images = (torch.rand(100, 28, 28) * 255).to(torch.uint8)
    with torch.no_grad():
        (row,) = evaluate_methods({"net": net}, images, cfg)
        (again,) = evaluate_methods({"net": net}, images, cfg)
    assert row["psnr_ci95_lo"] < row["psnr"] < row["psnr_ci95_hi"] and row == again  # seeded: it repeats
    assert row["psnr_ci95_hi"] - row["psnr_ci95_lo"] < 2.0  # 100 images: a fraction of a dB either side
