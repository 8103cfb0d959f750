"""Graph: one function of a model as a standalone graph (what `mnistmax export` writes), and
the graphs each kind of model has; every task names its own (`BaseTask.export_graphs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

IMAGES = ["batch", 1, 28, 28]


@dataclass
class Graph:
    """One function of the model as a standalone graph."""

    name: str        # file stem: model, encoder, decoder
    method: str      # the Model API method it stands for
    fn: Callable[[torch.Tensor], torch.Tensor]
    input_name: str
    input_shape: list  # with "batch" for the dynamic axis
    input_range: str
    output_name: str
    output_shape: list
    output_range: str
    threshold: float | None = None  # the graph cuts `raw`'s output at this (a bitmap denoiser)
    raw: Callable[[torch.Tensor], torch.Tensor] | None = None


def denoise_graphs(net, threshold: float | None = None) -> list[Graph]:
    """A denoiser's graph; a bitmap denoiser's ends in its output threshold, like `Model.denoise`."""
    if threshold is not None:
        return [Graph("model", "denoise", lambda x: (net(x) > threshold).float(), "noisy", IMAGES,
                      "{0, 1} float32", "denoised", IMAGES, f"{{0, 1}} float32 (ink where the output > {threshold:g})",
                      threshold, net)]
    return [Graph("model", "denoise", net, "noisy", IMAGES, "[0, 1] float32", "denoised", IMAGES, "[0, 1] float32")]


def classify_graphs(net) -> list[Graph]:
    n = net(torch.zeros(1, 1, 28, 28)).shape[1]
    return [Graph("model", "classify", lambda x: net(x).float().softmax(1), "images", IMAGES, "[0, 1] float32",
                  "probabilities", ["batch", n], "softmax over classes")]


def embed_graphs(net) -> list[Graph]:
    d = net.embed(torch.zeros(1, 1, 28, 28)).shape[1]
    return [Graph("model", "embed", net.embed, "images", IMAGES, "[0, 1] float32", "embeddings", ["batch", d], "real")]


def autoencoder_graphs(net) -> list[Graph]:
    """Reconstruction, encoder (a VAE's posterior mean) and decoder."""
    dim = net.latent_dim

    def encode(x):
        z = net.encode(x)
        return z[0] if isinstance(z, tuple) else z  # a VAE's mean

    return [Graph("model", "reconstruct", net.reconstruct, "images", IMAGES, "[0, 1] float32", "reconstruction",
                  IMAGES, "[0, 1] float32"),
            Graph("encoder", "encode", encode, "images", IMAGES, "[0, 1] float32", "latent", ["batch", dim], "real"),
            Graph("decoder", "decode", net.decode, "latent", ["batch", dim], "real", "images", IMAGES,
                  "[0, 1] float32")]
