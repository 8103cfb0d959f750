"""Pure scores for the limitations analysis: tensors in, numbers out.

Images are (B, 1, H, W) in [0, 1]. Every score compares a method's outputs with the clean
digits they should match, so identical outputs give the ideal value:

  over-smoothing        1 - min(1, E(out) / E(clean)), E = mean Sobel gradient magnitude
                        over all pixels of all images. 0 = edges as strong as the clean
                        digits (or stronger), 1 = no edges left.
  high-frequency ratio  power of the outputs above `cutoff` cycles/pixel divided by that of
                        the clean digits (radially averaged power spectrum, per-image mean
                        removed). 1 = preserved, < 1 = lost, > 1 = added (noise, artefacts).
  diversity collapse    1 - min(1, D(out) / D(clean)), D = mean pairwise RMS distance
                        between the images of different digits. 0 = outputs as different
                        from each other as the clean digits, 1 = every output the same.
  noise sensitivity     mean pairwise RMS distance between outputs for different noise draws
                        of the same digit, divided by D(clean). 0 = the output does not
                        depend on the noise draw.
  class entropy         entropy of a classifier's softmax, in bits (0 = certain, log2(10) =
                        3.32 = uniform over the ten digits).
  mode averaging        share of digits whose output a classifier finds split between two
                        classes (its second most likely class has probability >= `threshold`,
                        0.25 by default, so the two likeliest classes each hold at least a
                        quarter) while it does not find the clean digit split: the blends a
                        method made, not the digits that are ambiguous to begin with.
                        0 = no blends.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0  # central difference / 2
_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _conv(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    weight = kernel.to(images.device, images.dtype).view(1, 1, 3, 3)
    return F.conv2d(F.pad(images.float(), (1, 1, 1, 1), mode="replicate"), weight)


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude per pixel, (B, 1, H, W); a 0→1 step gives 0.5 on each side."""
    gx = _conv(images, _SOBEL_X)
    gy = _conv(images, _SOBEL_X.t())
    return torch.sqrt(gx**2 + gy**2)


def edge_energy(images: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude of each image, (B,)."""
    return gradient_magnitude(images).flatten(1).mean(1)


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian of each image, (B,): the classic sharpness measure."""
    return _conv(images, _LAPLACE).flatten(1).var(1)


def oversmoothing(output: torch.Tensor, clean: torch.Tensor) -> float:
    ratio = edge_energy(output).sum() / edge_energy(clean).sum().clamp_min(1e-12)
    return float(1.0 - ratio.clamp(max=1.0))


def radial_power_spectrum(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(frequencies in cycles/pixel, mean power per radial bin). Bin k holds the 2-D
    frequencies whose radius rounds to k/H, for k = 0 … H/2."""
    x = images.float().flatten(0, -3)  # (B, H, W)
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2:]
    power = torch.fft.fft2(x).abs().pow(2).mean(0) / (h * w)
    fy = torch.fft.fftfreq(h, device=x.device).view(-1, 1)
    fx = torch.fft.fftfreq(w, device=x.device).view(1, -1)
    radius = torch.sqrt(fy**2 + fx**2) * h
    bins = radius.round().long().clamp(max=h // 2)
    total = torch.zeros(h // 2 + 1, device=x.device).index_add_(0, bins.flatten(), power.flatten())
    count = torch.zeros(h // 2 + 1, device=x.device).index_add_(0, bins.flatten(), torch.ones_like(power).flatten())
    return torch.arange(h // 2 + 1, device=x.device) / h, total / count.clamp_min(1)


def high_frequency_ratio(output: torch.Tensor, clean: torch.Tensor, cutoff: float = 0.25) -> float:
    freqs, p_out = radial_power_spectrum(output)
    _, p_clean = radial_power_spectrum(clean)
    above = freqs >= cutoff
    return float(p_out[above].sum() / p_clean[above].sum().clamp_min(1e-12))


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean RMS pixel distance over all pairs of images (0 for one image)."""
    flat = images.float().flatten(1)
    if len(flat) < 2:
        return 0.0
    return float(torch.pdist(flat).mean() / math.sqrt(flat.shape[1]))


def diversity_collapse(output: torch.Tensor, clean: torch.Tensor) -> float:
    ratio = mean_pairwise_distance(output) / max(mean_pairwise_distance(clean), 1e-12)
    return float(1.0 - min(1.0, ratio))


def noise_sensitivity(outputs_per_digit: torch.Tensor, clean: torch.Tensor) -> float:
    """`outputs_per_digit`: (K digits, M draws, 1, H, W); `clean`: the K clean digits."""
    within = sum(mean_pairwise_distance(draws) for draws in outputs_per_digit) / len(outputs_per_digit)
    return within / max(mean_pairwise_distance(clean), 1e-12)


def class_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) in bits, per row."""
    logp = F.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(1) / math.log(2)


SPLIT = 0.25  # second-class probability from which a posterior counts as split between two classes


def second_class(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the two likeliest classes, their probabilities) per row, each (B, 2), likeliest first."""
    if probs.shape[1] < 2:
        zeros = torch.zeros(len(probs), 2)
        return zeros.long(), torch.cat([probs.float(), zeros[:, :1]], 1)
    top = probs.float().topk(2, dim=1)
    return top.indices, top.values


def split_posterior(probs: torch.Tensor, threshold: float = SPLIT) -> torch.Tensor:
    """(B,) bool: the second likeliest class holds at least `threshold` of the probability."""
    return second_class(probs)[1][:, 1] >= threshold


def mode_averaging(probs_out: torch.Tensor, probs_clean: torch.Tensor, threshold: float = SPLIT) -> float:
    """Share of rows split in `probs_out` (class probabilities of the outputs) and not in
    `probs_clean` (of the clean digits, row for row)."""
    made = split_posterior(probs_out, threshold) & ~split_posterior(probs_clean, threshold)
    return float(made.float().mean())
